//! The `walcast_offsets` table: where each partition's next offset is stored, in the same
//! transaction as the rows it covers. In: a connector name (reading) or the batch's
//! [`Position`]s and its open transaction (storing). Out: the stored positions.

use std::collections::HashMap;

use tokio_postgres::{Client, Statement, Transaction};
use walcast_connect_api::{Position, SinkError, TopicPartition};

use crate::error::{classify, is_concurrent_create};
use crate::method::prepared;

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

/// Upserts the positions the batch reaches, inside the batch's transaction.
pub(crate) async fn store(
    tx: &Transaction<'_>,
    statements: &mut HashMap<String, Statement>,
    connector: &str,
    positions: &[Position],
) -> Result<(), SinkError> {
    let topics: Vec<&str> = positions.iter().map(|p| p.tp.topic.as_str()).collect();
    let parts: Vec<i32> = positions.iter().map(|p| p.tp.partition).collect();
    let offs: Vec<i64> = positions.iter().map(|p| p.next_offset).collect();
    let sql = format!(
            "INSERT INTO {OFFSETS_TABLE} (connector, topic, partition, next_offset) \
             SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o) \
             ON CONFLICT (connector, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset"
        );
    let st = prepared(tx, statements, &sql, "storing offsets").await?;
    tx.execute(&st, &[&connector, &topics, &parts, &offs])
        .await
        .map_err(|e| classify(&e, "storing offsets in walcast_offsets"))?;
    Ok(())
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
}
