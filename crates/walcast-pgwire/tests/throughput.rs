//! A large transaction streamed and decoded end to end: every row arrives, in order, while the
//! consumer confirms progress. Prints the rate (the real throughput harness lives in benches/).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::*;
use walcast_pgoutput::*;
use walcast_pgwire::*;
use walcast_testkit::Postgres;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_a_large_transaction() -> Result<()> {
    const ROWS: usize = 200_000;
    let pg = Postgres::start().await?;
    pg.execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer int, amount numeric(10,2), note text, created timestamptz);
         CREATE PUBLICATION pub FOR ALL TABLES;",
    )
    .await?;
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    conn.create_slot("s", false, SnapshotAction::NoExport)
        .await?;
    pg.execute(&format!(
        "INSERT INTO orders SELECT i, i % 1000, (i % 10000) / 100.0, 'note ' || i, now() FROM generate_series(1, {ROWS}) i"
    ))
    .await?;
    let mut stream = conn
        .start_replication(
            "s",
            Lsn::INVALID,
            &[
                ("proto_version", "1".into()),
                ("publication_names", "pub".into()),
            ],
        )
        .await?;
    let mut d = Decoder::new();
    let started = Instant::now();
    let mut rows = 0usize;
    let mut next_id = 1i64;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(120), stream.next())
            .await??
            .expect("stream open");
        match msg {
            ReplicationMessage::XLogData { data, .. } => match d.decode(&data)? {
                Message::Insert(i) => {
                    assert_eq!(text(&i.new[0]).unwrap().parse::<i64>()?, next_id);
                    next_id += 1;
                    rows += 1;
                }
                Message::Commit(c) => {
                    stream
                        .send_status_update(StandbyStatusUpdate::confirmed(c.end_lsn))
                        .await?;
                    break;
                }
                _ => {}
            },
            ReplicationMessage::PrimaryKeepalive {
                reply_requested: true,
                ..
            } => {
                stream
                    .send_status_update(StandbyStatusUpdate::default())
                    .await?;
            }
            ReplicationMessage::PrimaryKeepalive { .. } => {}
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(rows, ROWS);
    println!(
        "streamed and decoded {rows} rows in {elapsed:?} ({:.0} rows/s)",
        rows as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
