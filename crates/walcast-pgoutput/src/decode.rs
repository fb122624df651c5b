//! Sans-IO decoder for the messages of PostgreSQL's `pgoutput` logical decoding plugin,
//! protocol versions 1 to 4 ("Logical Replication Message Formats" in the PostgreSQL docs).
//!
//! Input is the payload of one `XLogData` message as a [`Bytes`]; output is a typed [`Message`].
//! Column values and logical-message contents are [`Bytes::slice`]s of the input, so decoding a
//! row copies no value bytes. Nothing here does I/O, and no input makes it panic: every read is
//! bounds-checked and malformed bytes become a [`DecodeError`].
//!
//! Inside a streamed transaction (between Stream Start and Stream Stop) the data messages carry a
//! leading transaction id; [`decode`] takes `in_stream` to know whether to expect it, and
//! [`Decoder`] tracks Stream Start/Stop for callers that do not want to.

use bytes::Bytes;

use crate::catalog::ReplicaIdentity;
use crate::lsn::Lsn;
use crate::message::{
    Begin, BeginPrepare, Commit, CommitPrepared, Delete, Insert, LogicalMessage, Message, OldTuple,
    Origin, Prepare, Relation, RelationColumn, RollbackPrepared, StreamAbort, StreamCommit,
    StreamStart, Truncate, TypeInfo, Update,
};
use crate::tuple::TupleValue;

/// Why a pgoutput message could not be decoded. Carries positions and tags, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload was empty (no message tag).
    #[error("empty message")]
    Empty,
    /// The message ended before a field was complete.
    #[error("message truncated while reading {what} at offset {offset}")]
    Truncated { what: &'static str, offset: usize },
    /// The first byte is not a pgoutput message tag.
    #[error("unknown message tag {tag:#04x}")]
    UnknownTag { tag: u8 },
    /// A tuple column has a kind other than `n`, `u`, `t` or `b`.
    #[error("unknown tuple value kind {kind:#04x} in column {column}")]
    UnknownTupleKind { kind: u8, column: usize },
    /// A submessage marker (`N`, `K`, `O`) is not the one allowed here.
    #[error("unexpected submessage tag {tag:#04x} in {what}")]
    UnexpectedSubmessage { what: &'static str, tag: u8 },
    /// A name or prefix is not valid UTF-8.
    #[error("invalid UTF-8 in {what}")]
    InvalidUtf8 { what: &'static str },
    /// A string has no terminating NUL byte.
    #[error("unterminated string in {what}")]
    UnterminatedString { what: &'static str },
    /// A count or length field is negative.
    #[error("negative {what}: {value}")]
    NegativeLength { what: &'static str, value: i32 },
    /// A Relation message has a replica identity code PostgreSQL does not define.
    #[error("unknown replica identity {code:#04x}")]
    InvalidReplicaIdentity { code: u8 },
    /// Bytes are left over after a complete message (a sign the format was misunderstood).
    #[error("{count} trailing bytes after {what} message")]
    TrailingBytes { what: &'static str, count: usize },
}
/// Bounds-checked big-endian reader over the input; every method fails instead of panicking.
struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let truncated = DecodeError::Truncated {
            what,
            offset: self.pos,
        };
        let end = self.pos.checked_add(n).ok_or(truncated.clone())?;
        let s = self.buf.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn i16(&mut self, what: &'static str) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    fn lsn(&mut self, what: &'static str) -> Result<Lsn, DecodeError> {
        Ok(Lsn(u64::from_be_bytes(self.array(what)?)))
    }

    /// A NUL-terminated UTF-8 string.
    fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let nul = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or(DecodeError::UnterminatedString { what })?;
        let s = self.take(nul, what)?;
        self.pos += 1;
        std::str::from_utf8(s)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8 { what })
    }

    /// `n` bytes as a zero-copy slice of the input.
    fn slice(&mut self, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        self.take(n, what)?;
        Ok(self.buf.slice(start..self.pos))
    }

    /// A non-negative Int16 or Int32 count/length.
    fn len_i16(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let v = self.i16(what)?;
        usize::try_from(v).map_err(|_| DecodeError::NegativeLength {
            what,
            value: i32::from(v),
        })
    }

    fn len_i32(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let v = self.i32(what)?;
        usize::try_from(v).map_err(|_| DecodeError::NegativeLength { what, value: v })
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn xid_if(&mut self, in_stream: bool) -> Result<Option<u32>, DecodeError> {
        if in_stream {
            Ok(Some(self.u32("transaction id")?))
        } else {
            Ok(None)
        }
    }

    /// TupleData: Int16 column count, then per column a kind byte and, for text and binary
    /// values, an Int32 length and the bytes.
    fn tuple(&mut self) -> Result<Vec<TupleValue>, DecodeError> {
        let n = self.len_i16("tuple column count")?;
        // Each column takes at least one byte, so the remaining length bounds the allocation
        // whatever the count claims.
        let mut values = Vec::with_capacity(n.min(self.remaining()));
        for column in 0..n {
            let kind = self.u8("tuple value kind")?;
            let v = match kind {
                b'n' => TupleValue::Null,
                b'u' => TupleValue::UnchangedToast,
                b't' => {
                    let len = self.len_i32("text value length")?;
                    TupleValue::Text(self.slice(len, "text value")?)
                }
                b'b' => {
                    let len = self.len_i32("binary value length")?;
                    TupleValue::Binary(self.slice(len, "binary value")?)
                }
                _ => return Err(DecodeError::UnknownTupleKind { kind, column }),
            };
            values.push(v);
        }
        Ok(values)
    }

    fn finish<T>(&self, what: &'static str, value: T) -> Result<T, DecodeError> {
        match self.remaining() {
            0 => Ok(value),
            count => Err(DecodeError::TrailingBytes { what, count }),
        }
    }
}

/// Decodes one pgoutput message (the `data` of an `XLogData`). `in_stream` says whether the
/// message is inside a Stream Start/Stop block, where data messages carry a transaction id.
pub fn decode(data: &Bytes, in_stream: bool) -> Result<Message, DecodeError> {
    let tag = *data.first().ok_or(DecodeError::Empty)?;
    let mut r = Reader { buf: data, pos: 1 };
    let r = &mut r;
    let msg = match tag {
        b'B' => Message::Begin(Begin {
            final_lsn: r.lsn("final LSN")?,
            commit_time: r.i64("commit timestamp")?,
            xid: r.u32("transaction id")?,
        }),
        b'C' => Message::Commit(Commit {
            flags: r.u8("flags")?,
            commit_lsn: r.lsn("commit LSN")?,
            end_lsn: r.lsn("end LSN")?,
            commit_time: r.i64("commit timestamp")?,
        }),
        b'O' => Message::Origin(Origin {
            commit_lsn: r.lsn("origin commit LSN")?,
            name: r.string("origin name")?,
        }),
        b'R' => {
            let xid = r.xid_if(in_stream)?;
            let oid = r.u32("relation oid")?;
            let namespace = r.string("relation namespace")?;
            let name = r.string("relation name")?;
            let code = r.u8("replica identity")?;
            let replica_identity = ReplicaIdentity::from_code(code)
                .ok_or(DecodeError::InvalidReplicaIdentity { code })?;
            let n = r.len_i16("relation column count")?;
            // A column takes at least 10 bytes (flags, empty name, type oid, typmod).
            let mut columns = Vec::with_capacity(n.min(r.remaining() / 10));
            for _ in 0..n {
                columns.push(RelationColumn {
                    flags: r.u8("column flags")?,
                    name: r.string("column name")?,
                    type_oid: r.u32("column type oid")?,
                    type_modifier: r.i32("column type modifier")?,
                });
            }
            Message::Relation(Relation {
                xid,
                oid,
                namespace,
                name,
                replica_identity,
                columns,
            })
        }
        b'Y' => Message::Type(TypeInfo {
            xid: r.xid_if(in_stream)?,
            oid: r.u32("type oid")?,
            namespace: r.string("type namespace")?,
            name: r.string("type name")?,
        }),
        b'I' => {
            let xid = r.xid_if(in_stream)?;
            let relation_oid = r.u32("relation oid")?;
            match r.u8("insert tuple marker")? {
                b'N' => {}
                tag => {
                    return Err(DecodeError::UnexpectedSubmessage {
                        what: "Insert",
                        tag,
                    })
                }
            }
            Message::Insert(Insert {
                xid,
                relation_oid,
                new: r.tuple()?,
            })
        }
        b'U' => {
            let xid = r.xid_if(in_stream)?;
            let relation_oid = r.u32("relation oid")?;
            let old = match r.u8("update tuple marker")? {
                b'K' => Some(OldTuple::Key(r.tuple()?)),
                b'O' => Some(OldTuple::Full(r.tuple()?)),
                b'N' => None,
                tag => {
                    return Err(DecodeError::UnexpectedSubmessage {
                        what: "Update",
                        tag,
                    })
                }
            };
            if old.is_some() {
                match r.u8("update new tuple marker")? {
                    b'N' => {}
                    tag => {
                        return Err(DecodeError::UnexpectedSubmessage {
                            what: "Update",
                            tag,
                        })
                    }
                }
            }
            Message::Update(Update {
                xid,
                relation_oid,
                old,
                new: r.tuple()?,
            })
        }
        b'D' => {
            let xid = r.xid_if(in_stream)?;
            let relation_oid = r.u32("relation oid")?;
            let old = match r.u8("delete tuple marker")? {
                b'K' => OldTuple::Key(r.tuple()?),
                b'O' => OldTuple::Full(r.tuple()?),
                tag => {
                    return Err(DecodeError::UnexpectedSubmessage {
                        what: "Delete",
                        tag,
                    })
                }
            };
            Message::Delete(Delete {
                xid,
                relation_oid,
                old,
            })
        }
        b'T' => {
            let xid = r.xid_if(in_stream)?;
            let n = r.len_i32("truncated relation count")?;
            let options = r.u8("truncate options")?;
            let mut relation_oids = Vec::with_capacity(n.min(r.remaining() / 4));
            for _ in 0..n {
                relation_oids.push(r.u32("truncated relation oid")?);
            }
            Message::Truncate(Truncate {
                xid,
                options,
                relation_oids,
            })
        }
        b'M' => {
            let xid = r.xid_if(in_stream)?;
            let flags = r.u8("message flags")?;
            let lsn = r.lsn("message LSN")?;
            let prefix = r.string("message prefix")?;
            let len = r.len_i32("message content length")?;
            Message::Message(LogicalMessage {
                xid,
                flags,
                lsn,
                prefix,
                content: r.slice(len, "message content")?,
            })
        }
        b'S' => Message::StreamStart(StreamStart {
            xid: r.u32("transaction id")?,
            first_segment: r.u8("first segment flag")? == 1,
        }),
        b'E' => Message::StreamStop,
        b'c' => Message::StreamCommit(StreamCommit {
            xid: r.u32("transaction id")?,
            flags: r.u8("flags")?,
            commit_lsn: r.lsn("commit LSN")?,
            end_lsn: r.lsn("end LSN")?,
            commit_time: r.i64("commit timestamp")?,
        }),
        b'A' => {
            let xid = r.u32("transaction id")?;
            let subxid = r.u32("subtransaction id")?;
            // Protocol v4 with streaming = parallel appends the abort LSN and time; the message
            // itself does not say which form it is, its length does.
            let (abort_lsn, abort_time) = if r.remaining() == 0 {
                (None, None)
            } else {
                (Some(r.lsn("abort LSN")?), Some(r.i64("abort timestamp")?))
            };
            Message::StreamAbort(StreamAbort {
                xid,
                subxid,
                abort_lsn,
                abort_time,
            })
        }
        b'b' => Message::BeginPrepare(BeginPrepare {
            prepare_lsn: r.lsn("prepare LSN")?,
            end_lsn: r.lsn("end LSN")?,
            prepare_time: r.i64("prepare timestamp")?,
            xid: r.u32("transaction id")?,
            gid: r.string("gid")?,
        }),
        b'P' | b'p' => {
            let p = Prepare {
                flags: r.u8("flags")?,
                prepare_lsn: r.lsn("prepare LSN")?,
                end_lsn: r.lsn("end LSN")?,
                prepare_time: r.i64("prepare timestamp")?,
                xid: r.u32("transaction id")?,
                gid: r.string("gid")?,
            };
            if tag == b'P' {
                Message::Prepare(p)
            } else {
                Message::StreamPrepare(p)
            }
        }
        b'K' => Message::CommitPrepared(CommitPrepared {
            flags: r.u8("flags")?,
            commit_lsn: r.lsn("commit LSN")?,
            end_lsn: r.lsn("end LSN")?,
            commit_time: r.i64("commit timestamp")?,
            xid: r.u32("transaction id")?,
            gid: r.string("gid")?,
        }),
        b'r' => Message::RollbackPrepared(RollbackPrepared {
            flags: r.u8("flags")?,
            prepare_end_lsn: r.lsn("prepare end LSN")?,
            rollback_end_lsn: r.lsn("rollback end LSN")?,
            prepare_time: r.i64("prepare timestamp")?,
            rollback_time: r.i64("rollback timestamp")?,
            xid: r.u32("transaction id")?,
            gid: r.string("gid")?,
        }),
        tag => return Err(DecodeError::UnknownTag { tag }),
    };
    r.finish(msg.kind(), msg)
}

/// A decoder that follows Stream Start/Stop itself, for callers that feed it every message of a
/// replication stream in order.
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    in_stream: bool,
}

impl Decoder {
    /// A decoder outside any streamed block (where every replication stream starts).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the last message seen was inside a Stream Start/Stop block.
    pub fn in_stream(&self) -> bool {
        self.in_stream
    }

    /// Decodes one message and updates the streamed-block state.
    pub fn decode(&mut self, data: &Bytes) -> Result<Message, DecodeError> {
        let msg = decode(data, self.in_stream)?;
        match msg {
            Message::StreamStart(_) => self.in_stream = true,
            Message::StreamStop => self.in_stream = false,
            _ => {}
        }
        Ok(msg)
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
