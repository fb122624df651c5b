//! The seed scenarios end to end, with the exact files users get: `sql/init-orders.sql`,
//! `sql/init-results.sql`, `deploy/redis/customers.json` and the three connector configs of
//! `deploy/connect/` POSTed unchanged except for hosts, ports and passwords; and the
//! `source-db1` / `sink-db2` pair of the systemd seed (Debezium source with
//! `database.server.name`, Confluent JDBC sink with upsert by record key and auto.create).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{json, Value};
use walcast_testkit::{Postgres, Redis, Tansu};
use walcast_tests::{deploy_config, eventually_ok, load_customers, repo_file, Worker};

const T: Duration = Duration::from_secs(60);

/// `results` as text rows, ordered by order_id.
async fn results_rows(results: &Postgres) -> Vec<Vec<Option<String>>> {
    let c = results.connect().await.unwrap();
    c.query(
        "SELECT order_id::text, customer_id, product_id, quantity::text, price::text, status,
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
                customer_name, customer_email, customer_tier
           FROM results ORDER BY order_id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (0..10).map(|i| r.get::<_, Option<String>>(i)).collect())
    .collect()
}

/// What `results` must hold: the orders joined with the customers.
async fn expected_rows(orders: &Postgres, customers: &[Value]) -> Vec<Vec<Option<String>>> {
    let c = orders.connect().await.unwrap();
    c.query(
        "SELECT id::text, customer_id, product_id, quantity::text, price::text, status,
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')
           FROM orders ORDER BY id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| {
        let mut row: Vec<Option<String>> = (0..7).map(|i| r.get::<_, Option<String>>(i)).collect();
        let cust = customers
            .iter()
            .find(|c| Some(c["id"].as_str().unwrap().to_string()) == row[1]);
        for f in ["name", "email", "tier"] {
            row.push(cust.and_then(|c| c[f].as_str().map(str::to_string)));
        }
        row
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_pipeline_enriches_orders_into_results_and_redis() {
    let orders = Postgres::start().await.unwrap();
    let results = Postgres::start().await.unwrap();
    let redis = Redis::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    orders
        .psql_file(&repo_file("sql/init-orders.sql"))
        .await
        .unwrap();
    results
        .psql_file(&repo_file("sql/init-results.sql"))
        .await
        .unwrap();
    let customers = load_customers(&redis).await.unwrap();

    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    for name in ["orders-source", "results-sink", "orders-cache"] {
        w.create_connector(
            name,
            deploy_config(name, &orders, &results, &redis).unwrap(),
        )
        .await
        .unwrap();
    }
    for name in ["orders-source", "results-sink", "orders-cache"] {
        w.wait_state(name, "RUNNING", T).await.unwrap();
    }

    // The snapshot's four sample orders arrive enriched.
    let expected = expected_rows(&orders, &customers).await;
    assert_eq!(expected.len(), 4);
    eventually_ok(T, "snapshot rows in results", || async {
        let got = results_rows(&results).await;
        anyhow::ensure!(got == expected, "results {got:?}\nexpected {expected:?}");
        Ok(())
    })
    .await
    .unwrap();

    // The order, streamed: in results and in Redis, within a second or two.
    orders
        .execute("INSERT INTO orders (customer_id, product_id, quantity, price, status) VALUES ('CUST005','PROD500',7,19.99,'PENDING')")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut conn = redis.connect().await.unwrap();
    let hash: std::collections::HashMap<String, String> =
        eventually_ok(T, "order:5 in Redis", || {
            let mut conn = conn.clone();
            async move {
                let h: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
                    .arg("order:5")
                    .query_async(&mut conn)
                    .await?;
                anyhow::ensure!(!h.is_empty(), "order:5 not cached yet");
                Ok(h)
            }
        })
        .await
        .unwrap();
    eprintln!(
        "order 5 reached Redis {:?} after its commit",
        started.elapsed()
    );
    assert_eq!(hash["order_id"], "5");
    assert_eq!(hash["customer_id"], "CUST005");
    assert_eq!(hash["quantity"], "7");
    assert_eq!(hash["price"], "19.99");
    assert_eq!(hash["customer_name"], "Barbara Liskov");
    assert_eq!(hash["customer_email"], "barbara@example.com");
    assert_eq!(hash["customer_tier"], "gold");

    // Updates and deletes flow through both sinks.
    orders
        .execute(
            "UPDATE orders SET status = 'SHIPPED' WHERE id = 5; DELETE FROM orders WHERE id = 2;",
        )
        .await
        .unwrap();
    let expected = expected_rows(&orders, &customers).await;
    eventually_ok(T, "update and delete in results", || async {
        let got = results_rows(&results).await;
        anyhow::ensure!(got == expected, "results {got:?}\nexpected {expected:?}");
        Ok(())
    })
    .await
    .unwrap();
    eventually_ok(T, "update and delete in Redis", || {
        let mut conn = conn.clone();
        async move {
            let status: Option<String> = redis::cmd("HGET")
                .arg("order:5")
                .arg("status")
                .query_async(&mut conn)
                .await?;
            let gone: i64 = redis::cmd("EXISTS")
                .arg("order:2")
                .query_async(&mut conn)
                .await?;
            anyhow::ensure!(
                status.as_deref() == Some("SHIPPED") && gone == 0,
                "status {status:?}, order:2 exists {gone}"
            );
            Ok(())
        }
    })
    .await
    .unwrap();
    let _: () = redis::cmd("PING").query_async(&mut conn).await.unwrap();

    // RedisLookup's metrics say which connector they belong to: both sinks looked customers up.
    for connector in ["results-sink", "orders-cache"] {
        let misses = w
            .metric("walcast_redis_lookup_cache_misses_total", connector)
            .await
            .unwrap();
        assert!(
            misses.is_some_and(|m| m >= 1.0),
            "no RedisLookup cache misses for {connector}: {misses:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_seed_connectors_run_unchanged() {
    let db1 = Postgres::start().await.unwrap();
    let db2 = Postgres::start().await.unwrap();
    let tansu = Tansu::start().await.unwrap();
    db1.execute("CREATE DATABASE db1").await.unwrap();
    db2.execute("CREATE DATABASE db2").await.unwrap();
    let db1c = db1.connect_db("db1").await.unwrap();
    db1c.batch_execute(
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text);
         INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com'), (2, 'Alan', NULL);",
    )
    .await
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = Worker::start(&tansu.bootstrap(), work.path())
        .await
        .unwrap();
    // The seed's connector files as deploy/systemd installs them; only the ports and the
    // password references differ (this worker declares no config provider).
    for (name, pg) in [("source-db1", &db1), ("sink-db2", &db2)] {
        let text = std::fs::read_to_string(repo_file(&format!(
            "deploy/systemd/connectors/{name}.properties"
        )))
        .unwrap()
        .replace("localhost:5432", &format!("127.0.0.1:{}", pg.port()))
        .replace(
            "database.port=5432",
            &format!("database.port={}", pg.port()),
        )
        .replace("database.hostname=localhost", "database.hostname=127.0.0.1")
        .replace("${env:DB1_PASSWORD}", "postgres")
        .replace("${env:DB2_PASSWORD}", "postgres");
        let mut config = json!({});
        walcast_tests::merge_properties(&mut config, &text).unwrap();
        assert_eq!(config["name"], name);
        config.as_object_mut().unwrap().remove("name");
        w.create_connector(name, config).await.unwrap();
    }
    w.wait_state("source-db1", "RUNNING", T).await.unwrap();
    w.wait_state("sink-db2", "RUNNING", T).await.unwrap();
    db1c.batch_execute("INSERT INTO customers VALUES (3, 'Grace', 'grace@example.com'); UPDATE customers SET email = 'alan@example.com' WHERE id = 2;")
        .await
        .unwrap();
    let rows = |pg: &Postgres, db: &str| {
        let pg_url = pg.connection_string_for(db);
        async move {
            let (c, conn) = tokio_postgres::connect(&pg_url, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            let rows = c
                .query(
                    "SELECT id::text, name, email FROM customers ORDER BY id",
                    &[],
                )
                .await?;
            Ok::<_, anyhow::Error>(
                rows.iter()
                    .map(|r| {
                        (
                            r.get::<_, String>(0),
                            r.get::<_, String>(1),
                            r.get::<_, Option<String>>(2),
                        )
                    })
                    .collect::<Vec<_>>(),
            )
        }
    };
    let want = rows(&db1, "db1").await.unwrap();
    assert_eq!(want.len(), 3);
    eventually_ok(T, "db1 customers copied to db2", || async {
        let got = rows(&db2, "db2").await?;
        anyhow::ensure!(got == want, "db2 {got:?}\nwant {want:?}\n{}", w.log());
        Ok(())
    })
    .await
    .unwrap();
}
