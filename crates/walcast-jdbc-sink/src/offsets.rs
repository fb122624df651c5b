//! The `walcast_offsets` table: where each partition's next offset is stored, in the same
//! transaction as the rows it covers. In: a connector name (reading) or the batch's
//! [`Position`]s and its open transaction (storing). Out: the stored positions.

use std::fmt::Write as _;

use tokio_postgres::Client;
use walcast_connect_api::{Position, SinkError, TopicPartition};
use walcast_pgwire::quote_escaped_literal;

use crate::error::{classify, is_concurrent_create};

/// The offsets table, in the connection's default schema.
pub const OFFSETS_TABLE: &str = "walcast_offsets";

/// Creates the offsets table if missing and reads the connector's stored positions.
pub(crate) async fn read(client: &Client, connector: &str) -> Result<Vec<Position>, SinkError> {
    let create = format!(
        "CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (connector text NOT NULL, topic text NOT NULL, \
         partition int NOT NULL, next_offset bigint NOT NULL, PRIMARY KEY (connector, topic, partition))"
    );
    if let Err(e) = client.batch_execute(&create).await {
        // Two tasks creating it at once: one wins, the other sees the winner's table or row
        // type as a duplicate, by whichever catalog entry it reached first.
        if !is_concurrent_create(&e) {
            return Err(classify(&e, "creating the walcast_offsets table"));
        }
    }
    let rows = client
        .query(
            &format!(
                "SELECT topic, partition, next_offset FROM {OFFSETS_TABLE} WHERE connector = $1"
            ),
            &[&connector],
        )
        .await
        .map_err(|e| classify(&e, "reading walcast_offsets"))?;
    Ok(rows
        .iter()
        .map(|r| Position {
            tp: TopicPartition::new(r.get::<_, String>(0), r.get::<_, i32>(1)),
            next_offset: r.get(2),
        })
        .collect())
}

/// The statement that upserts the positions a batch reaches, as text with the values inline, so
/// it can go out in one message with the batch's `COMMIT` (see the writer): one round trip per
/// batch instead of two. Empty when there are no positions.
pub(crate) fn store_sql(connector: &str, positions: &[Position]) -> String {
    if positions.is_empty() {
        return String::new();
    }
    let mut sql =
        format!("INSERT INTO {OFFSETS_TABLE} (connector, topic, partition, next_offset) VALUES ");
    let connector = quote_escaped_literal(connector);
    for (i, p) in positions.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let _ = write!(
            sql,
            "({connector}, {}, {}, {})",
            quote_escaped_literal(&p.tp.topic),
            p.tp.partition,
            p.next_offset
        );
    }
    sql.push_str(
        " ON CONFLICT (connector, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
    );
    sql
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Tasks of several connectors start at once against a database without the table: every
    /// one of them gets its positions, none fails on the race between their `CREATE TABLE`s.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_creating_the_table_at_once_all_succeed() {
        let pg = walcast_testkit::Postgres::start().await.unwrap();
        let mut clients = Vec::new();
        for _ in 0..8 {
            clients.push(pg.connect().await.unwrap());
        }
        let admin = pg.connect().await.unwrap();
        for round in 0..40 {
            admin
                .batch_execute(&format!("DROP TABLE IF EXISTS {OFFSETS_TABLE}"))
                .await
                .unwrap();
            let reads = clients
                .iter()
                .enumerate()
                .map(|(i, c)| async move { read(c, &format!("c{i}")).await });
            for (i, r) in futures::future::join_all(reads)
                .await
                .into_iter()
                .enumerate()
            {
                let positions = r.unwrap_or_else(|e| panic!("round {round}, task {i}: {e}"));
                assert!(positions.is_empty());
            }
        }
    }

    /// Names with quotes and backslashes are stored as they are, whatever
    /// `standard_conforming_strings` says, and a second store moves the positions on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn positions_are_stored_for_any_connector_and_topic_name() {
        let pg = walcast_testkit::Postgres::start().await.unwrap();
        let c = pg.connect().await.unwrap();
        let connector = r"it's a \ 'name' \\";
        let at = |topic: &str, partition, next_offset| Position {
            tp: TopicPartition::new(topic, partition),
            next_offset,
        };
        assert!(read(&c, connector).await.unwrap().is_empty());
        assert_eq!(store_sql(connector, &[]), "");
        for scs in ["on", "off"] {
            c.batch_execute(&format!("SET standard_conforming_strings = {scs}"))
                .await
                .unwrap();
            let first = [at(r"a\b'c", 0, 7), at("orders", 3, 11)];
            c.batch_execute(&store_sql(connector, &first))
                .await
                .unwrap();
            let second = [at("orders", 3, 12)];
            c.batch_execute(&store_sql(connector, &second))
                .await
                .unwrap();
            let mut got = read(&c, connector).await.unwrap();
            got.sort_by(|a, b| a.tp.topic.cmp(&b.tp.topic));
            assert_eq!(
                got,
                vec![at(r"a\b'c", 0, 7), at("orders", 3, 12)],
                "scs {scs}"
            );
            c.batch_execute(&format!("DELETE FROM {OFFSETS_TABLE}"))
                .await
                .unwrap();
        }
    }
}
