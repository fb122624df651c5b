//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use anyhow::{bail, Context, Result};
use walcast_pgoutput::*;
use walcast_pgwire::*;
use walcast_testkit::Postgres;

/// Connection settings for a testkit server (superuser `postgres`, password `postgres`).
pub fn config(pg: &Postgres) -> PgConnectConfig {
    let mut c = PgConnectConfig::new(pg.host(), pg.port(), pg.user(), pg.dbname())
        .with_password(pg.password());
    c.connect_timeout = Duration::from_secs(10);
    c
}

/// The text of a value, for assertions.
pub fn text(v: &TupleValue) -> Option<&str> {
    v.as_text().map(|b| std::str::from_utf8(b).unwrap())
}

/// Texts of a tuple (None for null / unchanged TOAST).
pub fn texts(values: &[TupleValue]) -> Vec<Option<&str>> {
    values.iter().map(text).collect()
}

/// Reads and decodes messages until `stop` returns true for one (that one included), answering
/// keepalives that ask for a reply. Fails after `timeout`.
pub async fn collect_until(
    stream: &mut ReplicationStream,
    decoder: &mut Decoder,
    timeout: Duration,
    mut stop: impl FnMut(&Message) -> bool,
) -> Result<Vec<(Lsn, Message)>> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .with_context(|| {
                format!(
                    "timed out; received so far: {:?}",
                    out.iter()
                        .map(|(_, m): &(Lsn, Message)| m.kind())
                        .collect::<Vec<_>>()
                )
            })??;
        match next {
            None => bail!("stream ended"),
            Some(ReplicationMessage::XLogData {
                wal_start, data, ..
            }) => {
                let m = decoder
                    .decode(&data)
                    .with_context(|| format!("decoding at {wal_start}"))?;
                let done = stop(&m);
                out.push((wal_start, m));
                if done {
                    return Ok(out);
                }
            }
            Some(ReplicationMessage::PrimaryKeepalive {
                wal_end,
                reply_requested,
                ..
            }) => {
                if reply_requested {
                    stream
                        .send_status_update(StandbyStatusUpdate {
                            write: wal_end,
                            flush: Lsn::INVALID,
                            apply: Lsn::INVALID,
                            reply_requested: false,
                        })
                        .await?;
                }
            }
        }
    }
}
