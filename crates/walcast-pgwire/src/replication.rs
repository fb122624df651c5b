//! A logical replication connection (`replication=database`): the commands walcast needs
//! (IDENTIFY_SYSTEM, CREATE/DROP_REPLICATION_SLOT, SHOW...) and the CopyBoth stream that
//! START_REPLICATION opens.
//!
//! ```text
//! ReplicationConnection::connect ─► identify_system / create_slot (snapshot exported)
//!        │                          (snapshot read on another connection meanwhile)
//!        ▼ start_replication
//! ReplicationStream ─ next() ──► XLogData{data: Bytes} ─► pgoutput::decode
//!        │          └──────────► PrimaryKeepalive{reply_requested}
//!        └─ send_status_update(write/flush/apply) ◄── confirmed LSN from the sink side
//! ```
//!
//! Reading is pull-based: nothing is read from the socket until [`ReplicationStream::next`] is
//! awaited, so a slow consumer applies TCP backpressure to the walsender instead of growing a
//! queue. `next` is cancel-safe and can sit in `tokio::select!` next to an acknowledgement
//! channel and a status-update timer; [`ReplicationStream::split`] gives separate halves when
//! the status updates come from another task.

use bytes::{BufMut, Bytes};
use postgres_protocol::message::frontend;

use crate::config::PgConnectConfig;
use crate::conn::{self, log_notice, server_error, Conn, Reader, Writer};
use crate::error::PgError;
use crate::schema::{quote_ident, quote_literal};
use crate::wire::Backend;
use walcast_pgoutput::Lsn;
use walcast_pgoutput::PG_EPOCH_UNIX_MICROS;

/// The answer to IDENTIFY_SYSTEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifySystem {
    /// The cluster's unique system identifier (a 64-bit number as text); changes when the
    /// database is re-initialised, which invalidates stored positions.
    pub systemid: String,
    /// The current timeline (changes after a failover/promotion).
    pub timeline: u32,
    /// The current WAL flush position.
    pub xlogpos: Lsn,
    /// The database of this connection.
    pub dbname: Option<String>,
}

/// What CREATE_REPLICATION_SLOT does with the snapshot at the slot's consistent point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotAction {
    /// Export it for `SET TRANSACTION SNAPSHOT` on other connections; it stays valid until the
    /// next command on this replication connection, which is why the initial snapshot is read
    /// before START_REPLICATION is sent.
    Export,
    /// Do not export one (no initial snapshot wanted).
    NoExport,
    /// Use it in the current transaction of this connection (which must have run `BEGIN
    /// ISOLATION LEVEL REPEATABLE READ`).
    Use,
}

/// The answer to CREATE_REPLICATION_SLOT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedSlot {
    /// The created slot's name.
    pub slot_name: String,
    /// The first LSN whose changes the slot will stream; the snapshot shows everything before.
    pub consistent_point: Lsn,
    /// The exported snapshot's name (with [`SnapshotAction::Export`]).
    pub snapshot_name: Option<String>,
    /// The output plugin (`pgoutput`).
    pub output_plugin: Option<String>,
}

/// One message of the replication stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicationMessage {
    /// WAL data: here, one pgoutput message.
    XLogData {
        /// Start of the WAL data in this message.
        wal_start: Lsn,
        /// The server's current end of WAL.
        wal_end: Lsn,
        /// Send time, µs since 2000-01-01.
        server_time: i64,
        /// The pgoutput message, a zero-copy slice of the read buffer.
        data: Bytes,
    },
    /// A keepalive; when `reply_requested`, a status update must be sent right away or the
    /// walsender disconnects after `wal_sender_timeout`.
    PrimaryKeepalive {
        /// The server's current end of WAL.
        wal_end: Lsn,
        /// Send time, µs since 2000-01-01.
        server_time: i64,
        /// The server wants a status update now (it is about to time the connection out).
        reply_requested: bool,
    },
}

impl ReplicationMessage {
    /// Parses the payload of a CopyData message from the walsender (sans-IO).
    pub fn parse(payload: Bytes) -> Result<Self, PgError> {
        let bad = |what: &str| {
            PgError::Protocol(format!(
                "malformed {what} message in the replication stream"
            ))
        };
        let be = |s: &[u8]| -> u64 {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_be_bytes(a)
        };
        match payload.first() {
            Some(b'w') => {
                let h = payload.get(1..25).ok_or_else(|| bad("XLogData"))?;
                Ok(ReplicationMessage::XLogData {
                    wal_start: Lsn(be(&h[0..8])),
                    wal_end: Lsn(be(&h[8..16])),
                    server_time: be(&h[16..24]) as i64,
                    data: payload.slice(25..),
                })
            }
            Some(b'k') => {
                let h = payload.get(1..18).ok_or_else(|| bad("keepalive"))?;
                Ok(ReplicationMessage::PrimaryKeepalive {
                    wal_end: Lsn(be(&h[0..8])),
                    server_time: be(&h[8..16]) as i64,
                    reply_requested: h[16] == 1,
                })
            }
            Some(other) => Err(PgError::Protocol(format!(
                "unknown replication message {other:#04x}"
            ))),
            None => Err(bad("empty")),
        }
    }
}

/// A standby status update: how far walcast has written, flushed and applied the stream. The
/// server keeps WAL from `flush` on; advancing it (`confirmed_flush_lsn`) releases WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StandbyStatusUpdate {
    /// Received and written somewhere (not necessarily durably).
    pub write: Lsn,
    /// Durably stored by the destination: the position the slot confirms.
    pub flush: Lsn,
    /// Applied by the destination.
    pub apply: Lsn,
    /// Ask the server to answer with a keepalive right away (useful as a liveness probe).
    pub reply_requested: bool,
}

impl StandbyStatusUpdate {
    /// An update reporting `lsn` for write, flush and apply alike (walcast's usual case: a
    /// position is reported once Kafka acknowledged it).
    pub fn confirmed(lsn: Lsn) -> Self {
        Self {
            write: lsn,
            flush: lsn,
            apply: lsn,
            reply_requested: false,
        }
    }

    /// The CopyData payload, with `client_time` in µs since 2000-01-01.
    pub fn encode(&self, client_time: i64, out: &mut impl BufMut) {
        out.put_u8(b'r');
        out.put_u64(self.write.0);
        out.put_u64(self.flush.0);
        out.put_u64(self.apply.0);
        out.put_i64(client_time);
        out.put_u8(u8::from(self.reply_requested));
    }
}

/// Now, in µs since 2000-01-01 (the protocol's clock).
pub fn pg_now_micros() -> i64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    unix - PG_EPOCH_UNIX_MICROS
}

/// A replication connection in command mode.
pub struct ReplicationConnection {
    conn: Conn,
}

impl std::fmt::Debug for ReplicationConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationConnection")
            .field("server_version", &self.conn.server_version)
            .field("backend_pid", &self.conn.backend_pid)
            .finish()
    }
}

impl ReplicationConnection {
    /// Connects with `replication=database` to `config.dbname` and authenticates.
    pub async fn connect(config: &PgConnectConfig) -> Result<Self, PgError> {
        let conn = conn::connect(config, &[("replication", "database")]).await?;
        tracing::debug!(server_version = ?conn.server_version, pid = ?conn.backend_pid, "replication connection established");
        Ok(Self { conn })
    }

    /// The server's version string (e.g. `15.4 (Debian 15.4-1.pgdg120+1)`).
    pub fn server_version(&self) -> Option<&str> {
        self.conn.server_version.as_deref()
    }

    /// The server's major version (15 for `15.4`), used to pick command syntax.
    pub fn server_major_version(&self) -> Option<u32> {
        let v = self.conn.server_version.as_deref()?;
        let digits: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    }

    /// The walsender's process id (shown as `active_pid` of the slot while streaming).
    pub fn backend_pid(&self) -> Option<i32> {
        self.conn.backend_pid
    }

    /// Runs a command through the simple query protocol and returns its rows as text (`None` for
    /// NULL). Replication connections accept SHOW, the replication commands and, with
    /// `replication=database`, plain SQL.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, PgError> {
        let context = || format!("running {:?}", first_words(sql));
        frontend::query(sql, &mut self.conn.writer.buf)
            .map_err(|e| PgError::Config(format!("{}: {e}", context())))?;
        self.conn.writer.flush().await?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.conn.reader.next().await? {
                Backend::DataRow(values) => {
                    let row = values
                        .into_iter()
                        .map(|v| {
                            v.map(|b| {
                                String::from_utf8(b.to_vec()).map_err(|_| {
                                    PgError::Protocol(format!("{}: non UTF-8 result", context()))
                                })
                            })
                            .transpose()
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    rows.push(row);
                }
                Backend::Error(e) => error = Some(e),
                Backend::Notice(n) => log_notice(&n),
                Backend::ReadyForQuery => break,
                Backend::CopyOutResponse | Backend::CopyInResponse | Backend::CopyBothResponse => {
                    return Err(PgError::Protocol(format!(
                        "{}: COPY is not supported through simple_query",
                        context()
                    )))
                }
                _ => {}
            }
        }
        match error {
            Some(e) => Err(server_error(context(), e)),
            None => Ok(rows),
        }
    }

    /// IDENTIFY_SYSTEM: the cluster id, timeline, current WAL position and database.
    pub async fn identify_system(&mut self) -> Result<IdentifySystem, PgError> {
        let rows = self.simple_query("IDENTIFY_SYSTEM").await?;
        let row = rows
            .first()
            .filter(|r| r.len() >= 4)
            .ok_or_else(|| PgError::Protocol("IDENTIFY_SYSTEM returned no row".into()))?;
        let field = |i: usize| row.get(i).cloned().flatten();
        let timeline = field(1)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| PgError::Protocol("IDENTIFY_SYSTEM: bad timeline".into()))?;
        let xlogpos = field(2)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| PgError::Protocol("IDENTIFY_SYSTEM: bad xlogpos".into()))?;
        Ok(IdentifySystem {
            systemid: field(0).unwrap_or_default(),
            timeline,
            xlogpos,
            dbname: field(3),
        })
    }

    /// CREATE_REPLICATION_SLOT for pgoutput. With [`SnapshotAction::Export`] the returned
    /// snapshot can be imported on a normal connection with `SET TRANSACTION SNAPSHOT` — but
    /// only until the next command on this connection, so read it before calling anything else.
    pub async fn create_slot(
        &mut self,
        name: &str,
        temporary: bool,
        snapshot: SnapshotAction,
    ) -> Result<CreatedSlot, PgError> {
        let temp = if temporary { " TEMPORARY" } else { "" };
        // PostgreSQL 15 introduced the parenthesised option list and deprecated the keywords.
        let sql = if self.server_major_version().unwrap_or(15) >= 15 {
            let action = match snapshot {
                SnapshotAction::Export => "export",
                SnapshotAction::NoExport => "nothing",
                SnapshotAction::Use => "use",
            };
            format!(
                "CREATE_REPLICATION_SLOT {}{temp} LOGICAL pgoutput (SNAPSHOT '{action}')",
                quote_ident(name)
            )
        } else {
            let action = match snapshot {
                SnapshotAction::Export => "EXPORT_SNAPSHOT",
                SnapshotAction::NoExport => "NOEXPORT_SNAPSHOT",
                SnapshotAction::Use => "USE_SNAPSHOT",
            };
            format!(
                "CREATE_REPLICATION_SLOT {}{temp} LOGICAL pgoutput {action}",
                quote_ident(name)
            )
        };
        let rows = self
            .simple_query(&sql)
            .await
            .map_err(|e| with_context(e, format!("creating replication slot {name:?}")))?;
        let row = rows
            .into_iter()
            .next()
            .ok_or_else(|| PgError::Protocol("CREATE_REPLICATION_SLOT returned no row".into()))?;
        let mut it = row.into_iter();
        let slot_name = it.next().flatten().unwrap_or_else(|| name.to_string());
        let consistent_point = it
            .next()
            .flatten()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                PgError::Protocol("CREATE_REPLICATION_SLOT: bad consistent_point".into())
            })?;
        Ok(CreatedSlot {
            slot_name,
            consistent_point,
            snapshot_name: it.next().flatten(),
            output_plugin: it.next().flatten(),
        })
    }

    /// DROP_REPLICATION_SLOT; with `wait`, waits for an active slot to become free instead of
    /// failing with 55006.
    pub async fn drop_slot(&mut self, name: &str, wait: bool) -> Result<(), PgError> {
        let sql = format!(
            "DROP_REPLICATION_SLOT {}{}",
            quote_ident(name),
            if wait { " WAIT" } else { "" }
        );
        self.simple_query(&sql)
            .await
            .map(|_| ())
            .map_err(|e| with_context(e, format!("dropping replication slot {name:?}")))
    }

    /// START_REPLICATION SLOT name LOGICAL start_lsn (options): switches the connection to
    /// streaming. `options` are pgoutput's (`proto_version`, `publication_names`, `messages`,
    /// `streaming`, `binary`, `origin`), given as unquoted values (`("publication_names",
    /// "\"pub\"")`). [`Lsn::INVALID`] starts at the slot's confirmed position.
    pub async fn start_replication(
        mut self,
        slot: &str,
        start_lsn: Lsn,
        options: &[(&str, String)],
    ) -> Result<ReplicationStream, PgError> {
        let mut sql = format!(
            "START_REPLICATION SLOT {} LOGICAL {start_lsn}",
            quote_ident(slot)
        );
        if !options.is_empty() {
            let opts: Vec<String> = options
                .iter()
                .map(|(k, v)| format!("{} {}", quote_ident(k), quote_literal(v)))
                .collect();
            sql.push_str(" (");
            sql.push_str(&opts.join(", "));
            sql.push(')');
        }
        let context = || format!("starting replication from slot {slot:?} at {start_lsn}");
        frontend::query(&sql, &mut self.conn.writer.buf)
            .map_err(|e| PgError::Config(format!("{}: {e}", context())))?;
        self.conn.writer.flush().await?;
        loop {
            match self.conn.reader.next().await? {
                Backend::CopyBothResponse => break,
                Backend::Notice(n) => log_notice(&n),
                Backend::Error(e) => {
                    // The server follows an error with ReadyForQuery; the connection is dropped
                    // anyway, so there is no need to wait for it.
                    return Err(server_error(context(), e));
                }
                Backend::ParameterStatus { .. } => {}
                other => {
                    return Err(PgError::Protocol(format!(
                        "{}: unexpected answer {other:?}",
                        context()
                    )))
                }
            }
        }
        tracing::debug!(slot, %start_lsn, "replication started");
        Ok(ReplicationStream {
            reader: ReplicationReader {
                reader: self.conn.reader,
                done: false,
            },
            writer: ReplicationWriter {
                writer: self.conn.writer,
            },
            server_version: self.conn.server_version,
            backend_pid: self.conn.backend_pid,
        })
    }

    /// Ends the session politely (Terminate) so the server logs no "unexpected EOF".
    pub async fn close(mut self) -> Result<(), PgError> {
        self.conn.writer.terminate().await
    }
}

fn with_context(e: PgError, context: String) -> PgError {
    match e {
        PgError::Server { error, .. } => PgError::Server { context, error },
        other => other,
    }
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// A replication connection in streaming (CopyBoth) mode.
pub struct ReplicationStream {
    reader: ReplicationReader,
    writer: ReplicationWriter,
    server_version: Option<String>,
    backend_pid: Option<i32>,
}

impl std::fmt::Debug for ReplicationStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationStream")
            .field("backend_pid", &self.backend_pid)
            .field("server_done", &self.reader.done)
            .finish()
    }
}

impl ReplicationStream {
    /// The next message, or `None` once the server ended the stream (CopyDone). Cancel-safe.
    pub async fn next(&mut self) -> Result<Option<ReplicationMessage>, PgError> {
        self.reader.next().await
    }

    /// Sends a standby status update (client time = now).
    pub async fn send_status_update(&mut self, update: StandbyStatusUpdate) -> Result<(), PgError> {
        self.writer.send_status_update(update).await
    }

    /// Separate halves, for reading in one task and sending status updates from another.
    pub fn split(self) -> (ReplicationReader, ReplicationWriter) {
        (self.reader, self.writer)
    }

    /// Joins halves from [`ReplicationStream::split`] again (e.g. to [`ReplicationStream::stop`]).
    /// Halves of different streams make a broken stream; do not mix them.
    pub fn unsplit(reader: ReplicationReader, writer: ReplicationWriter) -> Self {
        Self {
            reader,
            writer,
            server_version: None,
            backend_pid: None,
        }
    }

    /// Ends streaming cleanly: sends CopyDone, discards the data still in flight until the
    /// server's CopyDone, and waits for ReadyForQuery. The connection is back in command mode.
    pub async fn stop(mut self) -> Result<ReplicationConnection, PgError> {
        frontend::copy_done(&mut self.writer.writer.buf);
        self.writer.writer.flush().await?;
        let mut error = None;
        loop {
            match self.reader.reader.next().await? {
                Backend::ReadyForQuery => break,
                Backend::Error(e) => error = Some(e),
                Backend::Notice(n) => log_notice(&n),
                // CopyData in flight, CopyDone, CommandComplete.
                _ => {}
            }
        }
        if let Some(e) = error {
            return Err(server_error("stopping replication".into(), e));
        }
        Ok(ReplicationConnection {
            conn: Conn {
                reader: self.reader.reader,
                writer: self.writer.writer,
                server_version: self.server_version,
                backend_pid: self.backend_pid,
            },
        })
    }
}

/// The reading half of a replication stream.
pub struct ReplicationReader {
    reader: Reader,
    /// The server sent CopyDone: no more data will come.
    done: bool,
}

impl ReplicationReader {
    /// The next message, or `None` once the server ended the stream (CopyDone). Cancel-safe:
    /// bytes already read stay buffered if the future is dropped.
    pub async fn next(&mut self) -> Result<Option<ReplicationMessage>, PgError> {
        if self.done {
            return Ok(None);
        }
        loop {
            match self.reader.next().await? {
                Backend::CopyData(payload) => return ReplicationMessage::parse(payload).map(Some),
                // A walsender told to shut down (`pg_ctl stop -m fast`, a restart) ends the
                // stream with CommandComplete and no CopyDone, then closes the connection: the
                // end of the stream, which the caller retries, not a protocol violation.
                Backend::CopyDone | Backend::CommandComplete => {
                    self.done = true;
                    return Ok(None);
                }
                Backend::Error(e) => return Err(server_error("streaming changes".into(), e)),
                Backend::Notice(n) => log_notice(&n),
                Backend::ParameterStatus { .. } => {}
                other => {
                    return Err(PgError::Protocol(format!(
                        "unexpected message in the replication stream: {other:?}"
                    )))
                }
            }
        }
    }
}

/// The writing half of a replication stream.
pub struct ReplicationWriter {
    writer: Writer,
}

impl ReplicationWriter {
    /// Sends a standby status update stamped with the current time. Cancel-safe in the sense
    /// that an interrupted write is completed by the next call.
    pub async fn send_status_update(&mut self, update: StandbyStatusUpdate) -> Result<(), PgError> {
        let mut payload = [0u8; 34];
        update.encode(pg_now_micros(), &mut &mut payload[..]);
        frontend::CopyData::new(&payload[..])
            .map_err(|e| PgError::Protocol(e.to_string()))?
            .write(&mut self.writer.buf);
        self.writer.flush().await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_xlogdata_and_keepalive() {
        let mut v = vec![b'w'];
        v.extend_from_slice(&1u64.to_be_bytes());
        v.extend_from_slice(&2u64.to_be_bytes());
        v.extend_from_slice(&3i64.to_be_bytes());
        v.extend_from_slice(b"Bxyz");
        let m = ReplicationMessage::parse(Bytes::from(v)).unwrap();
        assert_eq!(
            m,
            ReplicationMessage::XLogData {
                wal_start: Lsn(1),
                wal_end: Lsn(2),
                server_time: 3,
                data: Bytes::from_static(b"Bxyz")
            }
        );
        let mut v = vec![b'k'];
        v.extend_from_slice(&9u64.to_be_bytes());
        v.extend_from_slice(&4i64.to_be_bytes());
        v.push(1);
        assert_eq!(
            ReplicationMessage::parse(Bytes::from(v)).unwrap(),
            ReplicationMessage::PrimaryKeepalive {
                wal_end: Lsn(9),
                server_time: 4,
                reply_requested: true
            }
        );
        assert!(ReplicationMessage::parse(Bytes::from_static(b"k123")).is_err());
        assert!(ReplicationMessage::parse(Bytes::from_static(b"w")).is_err());
        assert!(ReplicationMessage::parse(Bytes::from_static(b"x")).is_err());
        assert!(ReplicationMessage::parse(Bytes::new()).is_err());
    }

    #[test]
    fn encodes_status_update() {
        let mut out = Vec::new();
        StandbyStatusUpdate {
            write: Lsn(1),
            flush: Lsn(2),
            apply: Lsn(3),
            reply_requested: true,
        }
        .encode(5, &mut out);
        assert_eq!(out.len(), 34);
        assert_eq!(out[0], b'r');
        assert_eq!(&out[1..9], &1u64.to_be_bytes());
        assert_eq!(&out[9..17], &2u64.to_be_bytes());
        assert_eq!(&out[17..25], &3u64.to_be_bytes());
        assert_eq!(&out[25..33], &5i64.to_be_bytes());
        assert_eq!(out[33], 1);
        assert!(pg_now_micros() > 700_000_000_000_000);
    }
}
