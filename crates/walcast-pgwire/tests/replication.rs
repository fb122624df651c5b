//! The replication connection against real PostgreSQL servers: authentication, commands, and
//! every pgoutput message decoded from a live stream.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use anyhow::Result;
use common::*;
use walcast_pgoutput::*;
use walcast_pgwire::*;
use walcast_testkit::{eventually, Postgres};

const T: Duration = Duration::from_secs(30);

async fn auth_works(method: &str) -> Result<()> {
    let pg = Postgres::builder().host_auth(method).start().await?;
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    let id = conn.identify_system().await?;
    assert_eq!(id.dbname.as_deref(), Some("postgres"));
    assert_eq!(id.timeline, 1);
    assert!(id.xlogpos.is_valid(), "{id:?}");
    assert!(!id.systemid.is_empty());
    assert!(
        conn.server_major_version().unwrap() >= 10,
        "{:?}",
        conn.server_version()
    );
    assert!(conn.backend_pid().is_some());

    if method != "trust" {
        let mut bad = config(&pg);
        bad.password = Some("wrong".into());
        let err = ReplicationConnection::connect(&bad).await.unwrap_err();
        assert_eq!(err.code(), Some("28P01"), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("password authentication failed"), "{msg}");
        assert!(
            msg.contains("check the configured user and password"),
            "{msg}"
        );
        assert!(
            !msg.contains("wrong"),
            "error must not echo the password: {msg}"
        );
        assert!(!err.is_transient());

        let mut none = config(&pg);
        none.password = None;
        let err = ReplicationConnection::connect(&none).await.unwrap_err();
        assert!(matches!(err, PgError::Auth(_)), "{err:?}");
        assert!(err.to_string().contains("none is configured"), "{err}");
    }
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn auth_trust() -> Result<()> {
    auth_works("trust").await
}

#[tokio::test]
async fn auth_cleartext_password() -> Result<()> {
    auth_works("password").await
}

#[tokio::test]
async fn auth_md5() -> Result<()> {
    auth_works("md5").await
}

#[tokio::test]
async fn auth_scram_sha_256() -> Result<()> {
    auth_works("scram-sha-256").await
}

#[tokio::test]
async fn role_without_replication_is_refused_with_advice() -> Result<()> {
    let pg = Postgres::start().await?;
    pg.execute("CREATE ROLE plain LOGIN").await?;
    let mut c = config(&pg);
    c.user = "plain".into();
    let err = ReplicationConnection::connect(&c).await.unwrap_err();
    assert_eq!(err.code(), Some("42501"), "{err:?}");
    assert!(err.to_string().contains("ALTER ROLE"), "{err}");
    assert!(!err.is_transient());
    Ok(())
}

#[tokio::test]
async fn unreachable_server_is_transient() -> Result<()> {
    let mut c = PgConnectConfig::new(
        "127.0.0.1",
        walcast_testkit::free_port(),
        "postgres",
        "postgres",
    );
    c.sslmode = SslMode::Disable;
    let err = ReplicationConnection::connect(&c).await.unwrap_err();
    assert!(matches!(err, PgError::Io { .. }), "{err:?}");
    assert!(err.is_transient());
    Ok(())
}

#[tokio::test]
async fn wal_level_replica_is_reported_clearly() -> Result<()> {
    let pg = Postgres::builder()
        .setting("wal_level", "replica")
        .start()
        .await?;
    let client = pg.connect().await?;
    let err = check_logical_replication(&client).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("set wal_level = logical in postgresql.conf and restart PostgreSQL"),
        "{err}"
    );
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    let err = conn
        .create_slot("s", false, SnapshotAction::NoExport)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("wal_level"), "{err}");
    assert!(err.to_string().contains("slot \"s\""), "{err}");
    assert!(!err.is_transient());
    Ok(())
}

#[tokio::test]
async fn exported_snapshot_then_stream_on_the_same_connection() -> Result<()> {
    let pg = Postgres::start().await?;
    pg.execute(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT i, 'old' FROM generate_series(1, 3) i;
         CREATE PUBLICATION pub FOR ALL TABLES;",
    )
    .await?;
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    let slot = conn
        .create_slot("walcast_slot", false, SnapshotAction::Export)
        .await?;
    assert_eq!(slot.slot_name, "walcast_slot");
    assert_eq!(slot.output_plugin.as_deref(), Some("pgoutput"));
    let snapshot = slot.snapshot_name.clone().expect("exported snapshot");
    assert!(slot.consistent_point.is_valid());

    // A change after the slot's consistent point: not in the snapshot, but in the stream.
    pg.execute("INSERT INTO t VALUES (4, 'new')").await?;

    let reader = pg.connect().await?;
    reader
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
            quote_literal(&snapshot)
        ))
        .await?;
    let rows = reader.query("SELECT id FROM t ORDER BY id", &[]).await?;
    let ids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    reader.batch_execute("COMMIT").await?;

    let mut stream = conn
        .start_replication(
            "walcast_slot",
            Lsn::INVALID,
            &[
                ("proto_version", "1".into()),
                ("publication_names", "\"pub\"".into()),
            ],
        )
        .await?;
    let mut d = Decoder::new();
    let msgs = collect_until(&mut stream, &mut d, T, |m| matches!(m, Message::Commit(_))).await?;
    let inserts: Vec<_> = msgs
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Insert(i) => Some(
                texts(&i.new)
                    .into_iter()
                    .map(|v| v.map(str::to_owned))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(
        inserts,
        vec![vec![Some("4".to_string()), Some("new".to_string())]]
    );

    // Clean end: back in command mode, still usable, then Terminate.
    let mut conn = stream.stop().await?;
    let id = conn.identify_system().await?;
    assert!(id.xlogpos.is_valid());
    conn.drop_slot("walcast_slot", true).await?;
    let client = pg.connect().await?;
    assert_eq!(slot_info(&client, "walcast_slot").await?, None);
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn slot_errors_name_the_slot_and_are_classified() -> Result<()> {
    let pg = Postgres::start().await?;
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    let err = conn.drop_slot("missing", false).await.unwrap_err();
    assert_eq!(err.code(), Some("42704"), "{err:?}");
    assert!(err.to_string().contains("\"missing\""), "{err}");
    conn.create_slot("busy", false, SnapshotAction::NoExport)
        .await?;
    let err = conn
        .create_slot("busy", false, SnapshotAction::NoExport)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42710"), "{err:?}");
    pg.execute("CREATE PUBLICATION pub FOR ALL TABLES").await?;
    let _stream = conn
        .start_replication(
            "busy",
            Lsn::INVALID,
            &[
                ("proto_version", "1".into()),
                ("publication_names", "pub".into()),
            ],
        )
        .await?;
    let other = ReplicationConnection::connect(&config(&pg)).await?;
    let err = other
        .start_replication(
            "busy",
            Lsn::INVALID,
            &[
                ("proto_version", "1".into()),
                ("publication_names", "pub".into()),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("55006"), "{err:?}");
    assert!(
        err.is_transient(),
        "slot in use by another walsender is worth retrying"
    );
    Ok(())
}

#[tokio::test]
async fn decodes_every_change_with_proto_version_1() -> Result<()> {
    let pg = Postgres::start().await?;
    pg.execute(
        "CREATE TABLE items (id int PRIMARY KEY, name text, big text);
         CREATE TABLE full_t (id int, v text);
         ALTER TABLE full_t REPLICA IDENTITY FULL;
         CREATE PUBLICATION pub FOR ALL TABLES;",
    )
    .await?;
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    conn.create_slot("s", false, SnapshotAction::NoExport)
        .await?;
    // One statement per simple query, so each is its own transaction.
    let writer = pg.connect().await?;
    for sql in [
        "INSERT INTO items VALUES (1, 'a', NULL)",
        "UPDATE items SET name = 'b' WHERE id = 1",
        "UPDATE items SET id = 2 WHERE id = 1",
        "DELETE FROM items WHERE id = 2",
        "INSERT INTO full_t VALUES (1, 'x')",
        "UPDATE full_t SET v = 'y'",
        "DELETE FROM full_t",
        "INSERT INTO items VALUES (3, 'c', (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 500) i))",
        "UPDATE items SET name = 'd' WHERE id = 3",
        "SELECT pg_logical_emit_message(true, 'walcast', 'in tx')",
        "SELECT pg_logical_emit_message(false, 'walcast', 'right away')",
        "TRUNCATE items, full_t",
        "INSERT INTO items VALUES (99, 'end', NULL)",
    ] {
        writer.batch_execute(sql).await?;
    }
    let stream_options = [
        ("proto_version", "1".to_string()),
        ("publication_names", "\"pub\"".to_string()),
        ("messages", "true".to_string()),
    ];
    let mut stream = conn
        .start_replication("s", Lsn::INVALID, &stream_options)
        .await?;
    let mut d = Decoder::new();
    let msgs = collect_until(
        &mut stream,
        &mut d,
        T,
        |m| matches!(m, Message::Insert(i) if i.new.first().and_then(text) == Some("99")),
    )
    .await?;
    let msgs: Vec<Message> = msgs.into_iter().map(|(_, m)| m).collect();

    // The last Relation message per oid describes the columns of the changes that follow.
    let mut relations: std::collections::HashMap<u32, Relation> = Default::default();
    for m in &msgs {
        if let Message::Relation(r) = m {
            relations.insert(r.oid, r.clone());
        }
    }
    let named = |n: &str| relations.values().find(|r| r.name == n).cloned().unwrap();
    let items = named("items");
    let full = named("full_t");
    assert_eq!(
        items
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["id", "name", "big"]
    );
    assert!(items.columns[0].is_key() && !items.columns[1].is_key());
    assert_eq!(items.columns[0].type_oid, 23);
    assert_eq!(items.replica_identity, ReplicaIdentity::Default);
    assert_eq!(full.replica_identity, ReplicaIdentity::Full);

    // Every data message, in order, as (kind, relation, old, new).
    let data: Vec<String> = msgs
        .iter()
        .filter_map(|m| {
            let name = |oid: u32| {
                relations
                    .get(&oid)
                    .map(|r| r.name.clone())
                    .unwrap_or_default()
            };
            let show = |v: &[TupleValue]| {
                v.iter()
                    .map(|x| match x {
                        TupleValue::Null => "null".to_string(),
                        TupleValue::UnchangedToast => "toast".to_string(),
                        TupleValue::Text(t) if t.len() > 100 => format!("text({})", t.len()),
                        TupleValue::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        TupleValue::Binary(_) => "binary".to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            match m {
                Message::Insert(i) => {
                    Some(format!("I {} [{}]", name(i.relation_oid), show(&i.new)))
                }
                Message::Update(u) => Some(format!(
                    "U {} {} [{}]",
                    name(u.relation_oid),
                    match &u.old {
                        None => "-".to_string(),
                        Some(OldTuple::Key(k)) => format!("K[{}]", show(k)),
                        Some(OldTuple::Full(k)) => format!("O[{}]", show(k)),
                    },
                    show(&u.new)
                )),
                Message::Delete(x) => Some(format!(
                    "D {} {}",
                    name(x.relation_oid),
                    match &x.old {
                        OldTuple::Key(k) => format!("K[{}]", show(k)),
                        OldTuple::Full(k) => format!("O[{}]", show(k)),
                    }
                )),
                Message::Truncate(t) => {
                    let mut names: Vec<String> = t.relation_oids.iter().map(|o| name(*o)).collect();
                    names.sort();
                    Some(format!("T {}", names.join(",")))
                }
                Message::Message(lm) => Some(format!(
                    "M {} {} {}",
                    lm.prefix,
                    lm.transactional(),
                    String::from_utf8_lossy(&lm.content)
                )),
                _ => None,
            }
        })
        .collect();
    assert_eq!(
        data,
        vec![
            "I items [1,a,null]",
            "U items - [1,b,null]",
            "U items K[1,null,null] [2,b,null]",
            "D items K[2,null,null]",
            "I full_t [1,x]",
            "U full_t O[1,x] [1,y]",
            "D full_t O[1,y]",
            "I items [3,c,text(16000)]",
            "U items - [3,d,toast]",
            "M walcast true in tx",
            "M walcast false right away",
            "T full_t,items",
            "I items [99,end,null]",
        ]
    );
    // Autocommit: every data statement is its own transaction (the non-transactional message
    // has none).
    let begins = msgs
        .iter()
        .filter(|m| matches!(m, Message::Begin(_)))
        .count();
    let commits = msgs
        .iter()
        .filter(|m| matches!(m, Message::Commit(_)))
        .count();
    assert_eq!(begins, 12);
    assert_eq!(
        commits, 11,
        "the last transaction's Commit was not read yet"
    );
    assert!(msgs.iter().all(|m| match m {
        Message::Insert(i) => i.xid.is_none(),
        _ => true,
    }));
    Ok(())
}

#[tokio::test]
async fn streams_big_transactions_and_aborts() -> Result<()> {
    let pg = Postgres::start().await?;
    pg.execute(
        "CREATE TABLE big (id int PRIMARY KEY, pad text);
         CREATE PUBLICATION pub FOR TABLE big;",
    )
    .await?;
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    // The decoding side spills (or streams) past logical_decoding_work_mem: set it on the
    // walsender's session, which is the replication connection.
    conn.simple_query("SET logical_decoding_work_mem = '64kB'")
        .await?;
    let shown = conn.simple_query("SHOW logical_decoding_work_mem").await?;
    assert_eq!(shown, vec![vec![Some("64kB".to_string())]]);
    conn.create_slot("s", false, SnapshotAction::NoExport)
        .await?;
    let major = conn.server_major_version().unwrap();
    // PostgreSQL 15 speaks pgoutput up to version 3; 16 added version 4 (parallel streaming,
    // whose Stream Abort carries the abort LSN and time).
    let (proto, streaming) = if major >= 16 {
        ("4", "parallel")
    } else {
        ("2", "on")
    };

    let writer = pg.connect().await?;
    writer
        .batch_execute("INSERT INTO big SELECT i, repeat('x', 100) FROM generate_series(1, 5000) i")
        .await?;
    writer.batch_execute("BEGIN").await?;
    writer
        .batch_execute(
            "INSERT INTO big SELECT i, repeat('y', 100) FROM generate_series(10001, 15000) i",
        )
        .await?;
    writer.batch_execute("ROLLBACK").await?;
    writer
        .batch_execute("INSERT INTO big VALUES (0, 'end')")
        .await?;
    let mut stream = conn
        .start_replication(
            "s",
            Lsn::INVALID,
            &[
                ("proto_version", proto.to_string()),
                ("publication_names", "\"pub\"".to_string()),
                ("streaming", streaming.to_string()),
            ],
        )
        .await?;
    let mut d = Decoder::new();
    let msgs = collect_until(
        &mut stream,
        &mut d,
        Duration::from_secs(60),
        |m| matches!(m, Message::Insert(i) if i.new.first().and_then(text) == Some("0")),
    )
    .await?;
    let msgs: Vec<Message> = msgs.into_iter().map(|(_, m)| m).collect();
    let starts: Vec<&StreamStart> = msgs
        .iter()
        .filter_map(|m| match m {
            Message::StreamStart(s) => Some(s),
            _ => None,
        })
        .collect();
    let stops = msgs
        .iter()
        .filter(|m| matches!(m, Message::StreamStop))
        .count();
    assert!(
        starts.len() >= 2,
        "expected the big transactions to be streamed: {starts:?}"
    );
    assert_eq!(starts.len(), stops);
    let committed_xid = starts[0].xid;
    assert!(starts[0].first_segment);
    let streamed_inserts = msgs
        .iter()
        .filter(|m| matches!(m, Message::Insert(i) if i.xid == Some(committed_xid)))
        .count();
    assert_eq!(
        streamed_inserts, 5000,
        "every row of the committed transaction arrives, streamed"
    );
    let commit = msgs
        .iter()
        .find_map(|m| match m {
            Message::StreamCommit(c) => Some(c.clone()),
            _ => None,
        })
        .expect("Stream Commit");
    assert_eq!(commit.xid, committed_xid);
    assert!(commit.end_lsn > commit.commit_lsn, "{commit:?}");
    let abort = msgs
        .iter()
        .find_map(|m| match m {
            Message::StreamAbort(a) => Some(a.clone()),
            _ => None,
        })
        .expect("Stream Abort for the rolled-back transaction");
    assert_ne!(abort.xid, committed_xid);
    assert_eq!(abort.xid, abort.subxid, "the whole transaction aborted");
    assert_eq!(abort.abort_lsn.is_some(), proto == "4");
    assert!(!d.in_stream());
    // The final small transaction is not streamed.
    assert!(matches!(msgs.last(), Some(Message::Insert(i)) if i.xid.is_none()));
    Ok(())
}

#[tokio::test]
async fn proto_version_4_on_postgres_15_is_a_clear_server_error() -> Result<()> {
    let pg = Postgres::start().await?;
    pg.execute("CREATE PUBLICATION pub FOR ALL TABLES").await?;
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    conn.create_slot("s", false, SnapshotAction::NoExport)
        .await?;
    if conn.server_major_version().unwrap() >= 16 {
        return Ok(()); // Nothing to check: version 4 is supported there (covered above).
    }
    let err = conn
        .start_replication(
            "s",
            Lsn::INVALID,
            &[
                ("proto_version", "4".into()),
                ("publication_names", "pub".into()),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("0A000"), "{err:?}");
    assert!(err.to_string().contains("PostgreSQL 15: 3"), "{err}");
    assert!(!err.is_transient());
    assert!(err.to_string().contains("proto_version"), "{err}");
    Ok(())
}

#[tokio::test]
async fn status_updates_advance_confirmed_flush_lsn() -> Result<()> {
    let pg = Postgres::start().await?;
    pg.execute("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pub FOR ALL TABLES;")
        .await?;
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    let slot = conn
        .create_slot("s", false, SnapshotAction::NoExport)
        .await?;
    let client = pg.connect().await?;
    let before = slot_info(&client, "s")
        .await?
        .unwrap()
        .confirmed_flush_lsn
        .unwrap();
    assert_eq!(before, slot.consistent_point);
    pg.execute("INSERT INTO t VALUES (1)").await?;
    let stream = conn
        .start_replication(
            "s",
            Lsn::INVALID,
            &[
                ("proto_version", "1".into()),
                ("publication_names", "pub".into()),
            ],
        )
        .await?;
    // Exercise the split halves: read in one place, confirm from another task.
    let (mut reader, mut writer) = stream.split();
    let end_lsn = loop {
        match reader.next().await?.expect("stream open") {
            ReplicationMessage::XLogData { data, .. } => {
                if let Message::Commit(c) = decode(&data, false)? {
                    break c.end_lsn;
                }
            }
            ReplicationMessage::PrimaryKeepalive { .. } => {}
        }
    };
    assert!(end_lsn > before);
    let confirm = tokio::spawn(async move {
        writer
            .send_status_update(StandbyStatusUpdate::confirmed(end_lsn))
            .await
            .map(|_| writer)
    });
    let writer = confirm.await??;
    let confirmed = eventually(T, "confirmed_flush_lsn to advance", || async {
        let lsn = slot_info(&client, "s").await.ok()??.confirmed_flush_lsn?;
        (lsn >= end_lsn).then_some(lsn)
    })
    .await?;
    assert_eq!(confirmed, end_lsn);
    let info = slot_info(&client, "s").await?.unwrap();
    assert!(info.active);
    let conn = ReplicationStream::unsplit(reader, writer).stop().await?;
    conn.close().await?;
    eventually(T, "slot to become inactive", || async {
        (!slot_info(&client, "s").await.ok()??.active).then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn keepalive_asks_for_a_reply_when_wal_sender_timeout_is_short() -> Result<()> {
    let pg = Postgres::builder()
        .setting("wal_sender_timeout", "2s")
        .start()
        .await?;
    pg.execute("CREATE PUBLICATION pub FOR ALL TABLES").await?;
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    conn.create_slot("s", false, SnapshotAction::NoExport)
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
    let wal_end = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Some(ReplicationMessage::PrimaryKeepalive {
                wal_end,
                reply_requested: true,
                ..
            }) = stream.next().await?
            {
                return anyhow::Ok(wal_end);
            }
        }
    })
    .await??;
    assert!(wal_end.is_valid());
    // Answer and keep answering: the connection must survive well past wal_sender_timeout.
    stream
        .send_status_update(StandbyStatusUpdate::confirmed(Lsn::INVALID))
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => break,
            Ok(msg) => {
                if let Some(ReplicationMessage::PrimaryKeepalive {
                    reply_requested: true,
                    ..
                }) = msg?
                {
                    stream
                        .send_status_update(StandbyStatusUpdate::default())
                        .await?;
                }
            }
        }
    }
    let conn = stream.stop().await?;
    conn.close().await?;
    Ok(())
}

#[tokio::test]
async fn next_is_cancel_safe_in_select() -> Result<()> {
    const ROWS: i64 = 20_000;
    let pg = Postgres::start().await?;
    pg.execute(
        "CREATE TABLE t (id bigint PRIMARY KEY, pad text); CREATE PUBLICATION pub FOR ALL TABLES;",
    )
    .await?;
    let mut conn = ReplicationConnection::connect(&config(&pg)).await?;
    conn.create_slot("s", false, SnapshotAction::NoExport)
        .await?;
    pg.execute(&format!(
        "INSERT INTO t SELECT i, repeat('p', 200) FROM generate_series(1, {ROWS}) i"
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
    let mut next_id = 1;
    let mut cancelled = 0u32;
    let mut ticker = tokio::time::interval(Duration::from_micros(50));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while next_id <= ROWS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stalled at row {next_id}"
        );
        tokio::select! {
            msg = stream.next() => {
                if let Some(ReplicationMessage::XLogData { data, .. }) = msg? {
                    if let Message::Insert(i) = d.decode(&data)? {
                        assert_eq!(text(&i.new[0]).unwrap().parse::<i64>()?, next_id, "rows lost or garbled by cancellation");
                        next_id += 1;
                    }
                }
            }
            _ = ticker.tick() => {
                cancelled += 1;
                // Interleave writes with interrupted reads.
                stream.send_status_update(StandbyStatusUpdate::default()).await?;
            }
        }
    }
    assert!(cancelled > 0, "the timer never interrupted a read");
    Ok(())
}
