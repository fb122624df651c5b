//! Sans-IO framing of backend (server-to-client) protocol messages: bytes from the socket go in,
//! complete typed messages come out, nothing here touches a socket.
//!
//! `postgres-protocol` builds walcast's frontend messages, but its backend parser knows neither
//! CopyBothResponse (the answer to START_REPLICATION) nor returns CopyData without an extra
//! wrapper, so the few backend messages a replication client meets are framed here. CopyData
//! payloads are split off the read buffer and frozen, so the XLogData they carry reaches the
//! pgoutput decoder without a copy.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ServerError;

/// A backend message, reduced to what a replication client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Backend {
    AuthOk,
    AuthCleartext,
    AuthMd5 {
        salt: [u8; 4],
    },
    AuthSasl {
        mechanisms: Vec<String>,
    },
    AuthSaslContinue(Bytes),
    AuthSaslFinal(Bytes),
    /// An authentication request walcast does not implement (Kerberos, GSS, SSPI...).
    AuthOther(i32),
    ParameterStatus {
        name: String,
        value: String,
    },
    KeyData {
        pid: i32,
    },
    ReadyForQuery,
    Error(ServerError),
    Notice(ServerError),
    RowDescription,
    DataRow(Vec<Option<Bytes>>),
    CommandComplete,
    EmptyQuery,
    CopyBothResponse,
    CopyOutResponse,
    CopyInResponse,
    CopyData(Bytes),
    CopyDone,
    /// Anything else (NotificationResponse...), ignored by callers.
    Other(u8),
}

/// Why bytes from the server are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// A message's fields do not fit its length or its format.
    #[error("malformed {what} message from server")]
    Malformed { what: &'static str },
    /// The length field is smaller than the length field itself.
    #[error("the server sent a {} message with an invalid length of {len} bytes", message_name(*tag))]
    BadLength { tag: u8, len: usize },
    /// The length field announces more than the configured cap; nothing was allocated for it.
    #[error(
        "the server announced a {} message of {len} bytes, more than the {max} bytes one \
         message may have (PgConnectConfig::max_message_size): the stream is corrupt or the peer \
         is not PostgreSQL",
        message_name(*tag)
    )]
    TooLarge { tag: u8, len: usize, max: usize },
}

/// The protocol's name of a backend message, for errors.
fn message_name(tag: u8) -> String {
    let name = match tag {
        b'R' => "Authentication",
        b'S' => "ParameterStatus",
        b'K' => "BackendKeyData",
        b'Z' => "ReadyForQuery",
        b'E' => "ErrorResponse",
        b'N' => "NoticeResponse",
        b'T' => "RowDescription",
        b'D' => "DataRow",
        b'C' => "CommandComplete",
        b'I' => "EmptyQueryResponse",
        b'W' => "CopyBothResponse",
        b'H' => "CopyOutResponse",
        b'G' => "CopyInResponse",
        b'd' => "CopyData",
        b'c' => "CopyDone",
        b'A' => "NotificationResponse",
        _ => return format!("unknown (tag {tag:#04x})"),
    };
    name.to_string()
}

struct Body {
    b: Bytes,
    what: &'static str,
}

impl Body {
    fn err(&self) -> FrameError {
        FrameError::Malformed { what: self.what }
    }

    fn i32(&mut self) -> Result<i32, FrameError> {
        if self.b.len() < 4 {
            return Err(self.err());
        }
        Ok(self.b.get_i32())
    }

    fn i16(&mut self) -> Result<i16, FrameError> {
        if self.b.len() < 2 {
            return Err(self.err());
        }
        Ok(self.b.get_i16())
    }

    fn cstr(&mut self) -> Result<String, FrameError> {
        let nul = self.b.iter().position(|c| *c == 0).ok_or(self.err())?;
        let s = self.b.split_to(nul);
        self.b.advance(1);
        String::from_utf8(s.to_vec()).map_err(|_| self.err())
    }

    fn take(&mut self, n: usize) -> Result<Bytes, FrameError> {
        if self.b.len() < n {
            return Err(self.err());
        }
        Ok(self.b.split_to(n))
    }
}

/// Parses one complete message off the front of `buf`, or returns `None` (consuming nothing)
/// when more bytes are needed. A message whose length field (which counts itself) exceeds
/// `max_len` is an error before anything is allocated for it; below the cap, the buffer is left
/// to grow with the bytes that actually arrive rather than with what the header announces.
pub(crate) fn parse(buf: &mut BytesMut, max_len: usize) -> Result<Option<Backend>, FrameError> {
    let Some(header) = buf.get(..5) else {
        return Ok(None);
    };
    let tag = header[0];
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len < 4 {
        return Err(FrameError::BadLength { tag, len });
    }
    if len > max_len {
        return Err(FrameError::TooLarge {
            tag,
            len,
            max: max_len,
        });
    }
    let total = len + 1;
    if buf.len() < total {
        return Ok(None);
    }
    let mut frame = buf.split_to(total).freeze();
    frame.advance(5);
    let what = match tag {
        b'R' => "authentication",
        b'S' => "ParameterStatus",
        b'K' => "BackendKeyData",
        b'E' => "ErrorResponse",
        b'N' => "NoticeResponse",
        b'D' => "DataRow",
        _ => "server",
    };
    let mut body = Body { b: frame, what };
    let msg = match tag {
        b'd' => Backend::CopyData(body.b),
        b'R' => match body.i32()? {
            0 => Backend::AuthOk,
            3 => Backend::AuthCleartext,
            5 => {
                let s = body.take(4)?;
                Backend::AuthMd5 {
                    salt: [s[0], s[1], s[2], s[3]],
                }
            }
            10 => {
                let mut mechanisms = Vec::new();
                loop {
                    let m = body.cstr()?;
                    if m.is_empty() {
                        break;
                    }
                    mechanisms.push(m);
                }
                Backend::AuthSasl { mechanisms }
            }
            11 => Backend::AuthSaslContinue(body.b),
            12 => Backend::AuthSaslFinal(body.b),
            other => Backend::AuthOther(other),
        },
        b'S' => Backend::ParameterStatus {
            name: body.cstr()?,
            value: body.cstr()?,
        },
        b'K' => Backend::KeyData { pid: body.i32()? },
        b'Z' => Backend::ReadyForQuery,
        b'E' => Backend::Error(error_fields(&mut body)?),
        b'N' => Backend::Notice(error_fields(&mut body)?),
        b'T' => Backend::RowDescription,
        b'D' => {
            let n = usize::try_from(body.i16()?).map_err(|_| body.err())?;
            let mut values = Vec::with_capacity(n.min(body.b.len() / 4));
            for _ in 0..n {
                let len = body.i32()?;
                if len < 0 {
                    values.push(None);
                } else {
                    let len = usize::try_from(len).map_err(|_| body.err())?;
                    values.push(Some(body.take(len)?));
                }
            }
            Backend::DataRow(values)
        }
        b'C' => Backend::CommandComplete,
        b'I' => Backend::EmptyQuery,
        b'W' => Backend::CopyBothResponse,
        b'H' => Backend::CopyOutResponse,
        b'G' => Backend::CopyInResponse,
        b'c' => Backend::CopyDone,
        other => Backend::Other(other),
    };
    Ok(Some(msg))
}

/// ErrorResponse / NoticeResponse fields: (type byte, C string) pairs ended by a zero byte.
fn error_fields(body: &mut Body) -> Result<ServerError, FrameError> {
    let mut e = ServerError {
        severity: String::new(),
        code: String::new(),
        message: String::new(),
        detail: None,
        hint: None,
    };
    let mut localized_severity = String::new();
    loop {
        let Some(&kind) = body.b.first() else {
            return Err(body.err());
        };
        body.b.advance(1);
        if kind == 0 {
            break;
        }
        let value = body.cstr()?;
        match kind {
            b'V' => e.severity = value,
            b'S' => localized_severity = value,
            b'C' => e.code = value,
            b'M' => e.message = value,
            b'D' => e.detail = Some(value),
            b'H' => e.hint = Some(value),
            _ => {}
        }
    }
    if e.severity.is_empty() {
        e.severity = localized_severity;
    }
    Ok(e)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_MAX_MESSAGE_SIZE as MAX;
    use proptest::prelude::*;

    fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn parses_messages_and_waits_for_more() {
        let mut all = frame(b'd', b"wxyz");
        all.extend(frame(
            b'E',
            b"SERROR\0VERROR\0C42501\0Mmust be superuser\0Hdo this\0\0",
        ));
        all.extend(frame(
            b'D',
            &[0, 2, 0, 0, 0, 1, b'a', 0xff, 0xff, 0xff, 0xff],
        ));
        all.extend(frame(
            b'R',
            &[0, 0, 0, 10, b'S', b'C', b'R', b'A', b'M', 0, 0],
        ));
        all.extend(frame(b'W', &[0, 0, 0]));
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in all {
            buf.extend_from_slice(&[b]);
            while let Some(m) = parse(&mut buf, MAX).unwrap() {
                out.push(m);
            }
        }
        assert!(buf.is_empty());
        assert_eq!(out[0], Backend::CopyData(Bytes::from_static(b"wxyz")));
        let Backend::Error(e) = &out[1] else { panic!() };
        assert_eq!(
            (e.severity.as_str(), e.code.as_str(), e.message.as_str()),
            ("ERROR", "42501", "must be superuser")
        );
        assert_eq!(e.hint.as_deref(), Some("do this"));
        assert_eq!(
            out[2],
            Backend::DataRow(vec![Some(Bytes::from_static(b"a")), None])
        );
        assert_eq!(
            out[3],
            Backend::AuthSasl {
                mechanisms: vec!["SCRAM".into()]
            }
        );
        assert_eq!(out[4], Backend::CopyBothResponse);
    }

    #[test]
    fn rejects_bad_lengths() {
        let mut buf = BytesMut::from(&[b'd', 0, 0, 0, 3][..]);
        assert_eq!(
            parse(&mut buf, MAX),
            Err(FrameError::BadLength { tag: b'd', len: 3 })
        );
        let mut buf = BytesMut::from(&[b'd', 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            parse(&mut buf, MAX),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn an_oversized_header_is_an_error_not_an_allocation() {
        // A CopyData header announcing i32::MAX bytes, as a corrupt stream or a hostile peer
        // might send, followed by a few bytes of its "body".
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(&[b'd', 0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
        let err = parse(&mut buf, MAX).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLarge {
                tag: b'd',
                len: i32::MAX as usize,
                max: MAX
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("CopyData") && text.contains("2147483647") && text.contains("1073741824"),
            "{text}"
        );
        assert!(buf.capacity() < 1024, "grew to {}", buf.capacity());
        // An unknown tag is named by its byte.
        let mut buf = BytesMut::from(&[b'?', 0x40, 0, 0, 1][..]);
        assert!(parse(&mut buf, MAX)
            .unwrap_err()
            .to_string()
            .contains("unknown (tag 0x3f) message of 1073741825 bytes"));
    }

    #[test]
    fn the_cap_is_configurable_and_inclusive() {
        let body = vec![7u8; 96];
        let mut buf = BytesMut::from(&frame(b'd', &body)[..]);
        assert_eq!(
            parse(&mut buf.clone(), 99),
            Err(FrameError::TooLarge {
                tag: b'd',
                len: 100,
                max: 99
            })
        );
        assert_eq!(
            parse(&mut buf, 100),
            Ok(Some(Backend::CopyData(Bytes::from(body))))
        );
    }

    #[test]
    fn a_large_message_still_arriving_reserves_nothing_ahead() {
        // 512 MiB announced, under the cap: wait for the bytes without allocating for them.
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(&[b'd', 0x20, 0, 0, 0, 1, 2, 3]);
        assert_eq!(parse(&mut buf, MAX), Ok(None));
        assert_eq!(buf.len(), 8);
        assert!(buf.capacity() < 1024, "grew to {}", buf.capacity());
    }

    proptest! {
        #[test]
        fn random_frames_never_panic(tag: u8, body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = BytesMut::from(&frame(tag, &body)[..]);
            let _ = parse(&mut buf, MAX);
        }
    }
}
