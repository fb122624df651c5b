//! The producer against a real tansu broker: delivery, order, key → partition mapping, the
//! watermark, backpressure while the broker is down, recovery after it comes back empty, and
//! errors. Every test starts its own broker; none skips.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use walcast_kafka::{
    connect, partition_for_key, read_topic_to_end, topic_partitions, ConsumedRecord, KafkaError,
    PartitionReader, Producer, ProducerConfig,
};
use walcast_testkit::Tansu;

/// Upper bound for any single test step, so a hang fails instead of blocking CI.
const STEP: Duration = Duration::from_secs(60);

fn value(seq: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{{\"seq\":{seq},\"pad\":\"").into_bytes();
    v.resize(len.max(v.len() + 2) - 2, b'x');
    v.extend_from_slice(b"\"}");
    v
}

fn seq_of(r: &ConsumedRecord) -> u64 {
    let v = std::str::from_utf8(r.value.as_deref().unwrap()).unwrap();
    let start = v.find(':').unwrap() + 1;
    let end = v.find(',').unwrap();
    v[start..end].parse().unwrap()
}

/// Asserts that, per partition, record sequence numbers only increase (ignoring duplicates that
/// a retry may write again: the *last* occurrence of each must be in order) and that every key
/// is on the partition the Java client would choose.
fn check_order_and_mapping(records: &[ConsumedRecord], partitions: i32) -> Result<()> {
    let mut by_partition: BTreeMap<i32, Vec<&ConsumedRecord>> = BTreeMap::new();
    for r in records {
        by_partition.entry(r.partition).or_default().push(r);
        if let Some(k) = &r.key {
            ensure!(
                partition_for_key(k, partitions) == r.partition,
                "key {:?} is on partition {} but Java's partitioner picks {}",
                String::from_utf8_lossy(k),
                r.partition,
                partition_for_key(k, partitions)
            );
        }
    }
    for (p, recs) in by_partition {
        ensure!(
            recs.windows(2).all(|w| w[0].offset < w[1].offset),
            "offsets not increasing in partition {p}"
        );
        // Last occurrence of each sequence number, in log order.
        let mut last: BTreeMap<u64, usize> = BTreeMap::new();
        for (i, r) in recs.iter().enumerate() {
            last.insert(seq_of(r), i);
        }
        let mut by_position: Vec<(usize, u64)> = last.into_iter().map(|(s, i)| (i, s)).collect();
        by_position.sort_unstable();
        ensure!(
            by_position.windows(2).all(|w| w[0].1 < w[1].1),
            "records out of order in partition {p}"
        );
    }
    Ok(())
}

fn config(k: &Tansu) -> ProducerConfig {
    ProducerConfig {
        topic_partitions: 3,
        retry_backoff: Duration::from_millis(50),
        retry_backoff_max: Duration::from_millis(500),
        request_timeout: Duration::from_secs(5),
        ..ProducerConfig::new(&k.bootstrap())
    }
}

#[tokio::test]
async fn keyed_records_arrive_in_order_on_the_java_partition() -> Result<()> {
    let k = Tansu::start().await?;
    let mut producer = Producer::connect(config(&k)).await?;
    let topic = "dbserver1.public.orders";
    let n: u64 = 3000;
    for i in 0..n {
        let key = format!("{{\"id\":{}}}", i % 97).into_bytes();
        // Ten records per transaction, the commit LSN as token.
        let token = 1000 + i / 10;
        producer
            .send(
                topic,
                Some(key),
                Some(value(i, 300)),
                1_700_000_000_000 + i as i64,
                token,
            )
            .await?;
        if i % 10 == 9 {
            producer.mark(token);
        }
    }
    let last_token = 1000 + (n - 1) / 10;
    let acked = tokio::time::timeout(STEP, producer.flush()).await??;
    assert_eq!(acked, last_token, "flush returns the last token");
    assert_eq!(producer.acked(), last_token);

    let client = connect(&[k.bootstrap()], "test", Duration::from_secs(5)).await?;
    assert_eq!(topic_partitions(&client, topic).await?, Some(3));
    let records = read_topic_to_end(&k.bootstrap(), topic).await?;
    assert_eq!(records.len() as u64, n, "every record exactly once");
    check_order_and_mapping(&records, 3)?;
    // Independently of this crate's partitioner: where Java's `Utils.toPositive(Utils.murmur2(
    // key)) % 3` puts these keys (computed with a separate implementation checked against
    // Kafka's UtilsTest vectors).
    let java: [(u64, i32); 12] = [
        (0, 1),
        (1, 0),
        (2, 1),
        (3, 0),
        (4, 2),
        (5, 2),
        (6, 1),
        (7, 0),
        (8, 0),
        (9, 0),
        (10, 1),
        (11, 1),
    ];
    for (id, partition) in java {
        let key = format!("{{\"id\":{id}}}").into_bytes();
        let r = records
            .iter()
            .find(|r| r.key.as_deref() == Some(&key[..]))
            .context("key not found")?;
        assert_eq!(r.partition, partition, "key {{\"id\":{id}}}");
    }
    for p in 0..3 {
        assert!(
            records.iter().any(|r| r.partition == p),
            "partition {p} got no records"
        );
    }
    // Timestamps survive.
    let first = records.iter().find(|r| seq_of(r) == 0).unwrap();
    assert_eq!(first.timestamp_ms, 1_700_000_000_000);
    Ok(())
}

#[tokio::test]
async fn marks_move_the_watermark_and_keyless_records_spread() -> Result<()> {
    let k = Tansu::start().await?;
    let mut producer = Producer::connect(ProducerConfig {
        linger: Duration::from_millis(1),
        batch_max_bytes: 4096,
        ..config(&k)
    })
    .await?;
    // A transaction without captured records: the watermark reaches its token.
    producer.mark(50);
    let w = tokio::time::timeout(STEP, producer.wait_acked_change()).await??;
    assert_eq!(w, 50);

    // Records of transaction 60, not yet marked: 60 must not be reported even once they are
    // acknowledged, because more records of it could follow.
    let topic = "keyless";
    for i in 0..40 {
        producer
            .send(topic, None, Some(value(i, 1000)), 0, 60)
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(producer.acked(), 50, "an open token is not confirmed");
    producer.mark(60);
    let mut rx = producer.acked_receiver();
    tokio::time::timeout(STEP, rx.wait_for(|w| *w == 60)).await??;

    // Tokens may not go backwards; that is refused before reaching the background task, so the
    // producer still works.
    assert!(matches!(
        producer.send(topic, None, Some(vec![1]), 0, 59).await,
        Err(KafkaError::TokenWentBackwards {
            token: 59,
            previous: 60
        })
    ));
    // A heartbeat-like record at the marked position is accepted.
    producer
        .send(topic, None, Some(value(40, 10)), 0, 60)
        .await?;
    producer
        .send(topic, None, Some(value(41, 10)), 0, 61)
        .await?;
    assert_eq!(tokio::time::timeout(STEP, producer.flush()).await??, 61);

    let records = read_topic_to_end(&k.bootstrap(), topic).await?;
    assert_eq!(records.len(), 42);
    let used: std::collections::BTreeSet<i32> = records.iter().map(|r| r.partition).collect();
    assert!(
        used.len() > 1,
        "keyless records stick to a partition per batch, then move on: {used:?}"
    );
    Ok(())
}

#[tokio::test]
async fn send_blocks_while_the_broker_is_down_and_delivers_after_it_returns() -> Result<()> {
    let mut k = Tansu::start().await?;
    let budget = 64 * 1024;
    let mut producer = Producer::connect(ProducerConfig {
        max_buffered_bytes: budget,
        batch_max_bytes: 16 * 1024,
        ..config(&k)
    })
    .await?;
    let topic = "survives";
    // Warm up: the topic exists with 3 partitions and everything is acknowledged.
    for i in 0..30 {
        producer
            .send(
                topic,
                Some(format!("k{}", i % 7).into_bytes()),
                Some(value(i, 1000)),
                0,
                1,
            )
            .await?;
    }
    producer.mark(1);
    assert_eq!(tokio::time::timeout(STEP, producer.flush()).await??, 1);

    k.stop();
    // 500 records of ~1 KB are far more than the 64 KiB budget: sends must block.
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let sent = Arc::clone(&sent);
        tokio::spawn(async move {
            for i in 30..530u64 {
                let token = 2 + i / 10;
                producer
                    .send(
                        "survives",
                        Some(format!("k{}", i % 7).into_bytes()),
                        Some(value(i, 1000)),
                        0,
                        token,
                    )
                    .await?;
                if i % 10 == 9 {
                    producer.mark(token);
                }
                sent.store(i - 29, Ordering::SeqCst);
            }
            Ok::<_, KafkaError>(producer)
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let blocked_at = sent.load(Ordering::SeqCst);
    // Each record holds ~1.1 KB of budget, so at most ~60 fit.
    assert!(
        blocked_at > 0 && blocked_at < 70,
        "send should block once the budget is used, but {blocked_at} records went through"
    );
    assert!(!sender.is_finished());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        sent.load(Ordering::SeqCst),
        blocked_at,
        "no progress while the broker is down"
    );

    // The broker comes back empty: the producer re-creates the topic with 3 partitions and
    // delivers everything it buffered, in order.
    k.start_again().await?;
    let mut producer = tokio::time::timeout(STEP, sender)
        .await
        .context("sends did not resume after the broker came back")???;
    let acked = tokio::time::timeout(STEP, producer.flush()).await??;
    assert_eq!(acked, 2 + 529 / 10);

    let client = connect(&[k.bootstrap()], "test", Duration::from_secs(5)).await?;
    assert_eq!(
        topic_partitions(&client, topic).await?,
        Some(3),
        "the topic is re-created with the configured partitions, not auto-created"
    );
    let records = read_topic_to_end(&k.bootstrap(), topic).await?;
    let seqs: std::collections::BTreeSet<u64> = records.iter().map(seq_of).collect();
    for i in 30..530 {
        if !seqs.contains(&i) {
            bail!("record {i} sent while the broker was down was lost");
        }
    }
    check_order_and_mapping(&records, 3)?;
    Ok(())
}

#[tokio::test]
async fn connecting_to_a_down_broker_fails_fast_and_transiently() -> Result<()> {
    let mut k = Tansu::start().await?;
    k.stop();
    let started = Instant::now();
    let err = Producer::connect(ProducerConfig {
        request_timeout: Duration::from_secs(2),
        ..config(&k)
    })
    .await
    .err()
    .context("connect to a stopped broker succeeded")?;
    assert!(err.is_transient(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_missing_topic_without_creation_is_a_fatal_error() -> Result<()> {
    let k = Tansu::start().await?;
    let mut producer = Producer::connect(ProducerConfig {
        create_topics: false,
        ..config(&k)
    })
    .await?;
    producer.send("nope", None, Some(vec![1]), 0, 1).await?;
    let err = tokio::time::timeout(STEP, producer.flush())
        .await?
        .err()
        .context("flush to a missing topic succeeded")?;
    assert!(
        matches!(err, KafkaError::TopicMissing { ref topic } if topic == "nope"),
        "{err}"
    );
    assert!(!err.is_transient());
    assert!(err.to_string().contains("create it"), "{err}");
    // Every later call reports the same error.
    let again = producer
        .send("other", None, Some(vec![1]), 0, 2)
        .await
        .err();
    assert!(
        matches!(again, Some(KafkaError::TopicMissing { .. })),
        "{again:?}"
    );
    Ok(())
}

#[tokio::test]
async fn partition_reader_reads_from_a_position_and_reports_the_high_watermark() -> Result<()> {
    let k = Tansu::start().await?;
    let mut producer = Producer::connect(ProducerConfig {
        topic_partitions: 1,
        ..config(&k)
    })
    .await?;
    for i in 0..100 {
        producer
            .send("one", Some(b"k".to_vec()), Some(value(i, 200)), 0, i + 1)
            .await?;
    }
    producer.flush().await?;
    let client = connect(&[k.bootstrap()], "test", Duration::from_secs(5)).await?;
    let mut reader = PartitionReader::new(&client, "one", 0, 40).await?;
    let mut got = Vec::new();
    let deadline = Instant::now() + STEP;
    while reader.position() < 100 {
        let (records, hw) = reader.next_batch(Duration::from_millis(200)).await?;
        assert_eq!(hw, 100);
        got.extend(records);
        ensure!(
            Instant::now() < deadline,
            "reader stuck at {}",
            reader.position()
        );
    }
    assert_eq!(got.first().map(|r| r.offset), Some(40));
    assert_eq!(got.len(), 60);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, r)| seq_of(r) == 40 + i as u64));
    // At the end, a fetch waits and returns nothing new.
    let (records, hw) = reader.next_batch(Duration::from_millis(100)).await?;
    assert!(records.is_empty());
    assert_eq!(hw, 100);
    Ok(())
}
