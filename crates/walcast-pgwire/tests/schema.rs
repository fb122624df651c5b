//! Catalog loading and setup helpers against a real PostgreSQL.
#![allow(clippy::unwrap_used)]

use walcast_pgoutput::*;
use walcast_pgwire::*;
use walcast_testkit::Postgres;

#[tokio::test]
async fn loads_table_schema_with_types_keys_and_defaults() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    pg.execute(
        r#"
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';
        CREATE DOMAIN short_text AS varchar(20);
        CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
        CREATE SCHEMA "My Schema";
        CREATE TABLE "My Schema"."Orders" (
            b int NOT NULL,
            a text NOT NULL DEFAULT 'x',
            dropped int,
            id bigserial,
            price numeric(10,2),
            m mood,
            moods mood[],
            s short_text,
            p posint,
            tags text[],
            g int GENERATED ALWAYS AS (b * 2) STORED,
            r int4range,
            pt point,
            PRIMARY KEY (a, b)
        );
        ALTER TABLE "My Schema"."Orders" DROP COLUMN dropped;
        ALTER TABLE "My Schema"."Orders" REPLICA IDENTITY FULL;
        "#,
    )
    .await?;
    let client = pg.connect().await?;
    let id = TableId::new("My Schema", "Orders");
    let t = load_table_schema_by_name(&client, &id).await?;
    assert_eq!(t.id, id);
    assert_eq!(t.replica_identity, ReplicaIdentity::Full);
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["b", "a", "id", "price", "m", "moods", "s", "p", "tags", "r", "pt"]
    );
    let col = |n: &str| &t.columns[t.column_index(n).unwrap()];
    assert_eq!(col("b").primary_key_position, Some(2));
    assert_eq!(col("a").primary_key_position, Some(1));
    assert_eq!(t.primary_key(), vec![1, 0]);
    assert!(!col("a").nullable);
    assert!(col("price").nullable);
    assert_eq!(col("a").default_expr.as_deref(), Some("'x'::text"));
    assert!(col("id")
        .default_expr
        .as_deref()
        .unwrap()
        .starts_with("nextval("));
    assert_eq!(col("price").type_modifier, (10 << 16 | 2) + 4);
    assert_eq!(col("b").pg_type.name, "int4");
    assert_eq!(col("b").pg_type.kind, PgTypeKind::Base);
    assert_eq!(col("b").pg_type.schema, "pg_catalog");
    assert_eq!(
        col("m").pg_type.kind,
        PgTypeKind::Enum {
            labels: vec!["sad".into(), "meh".into(), "ok".into(), "happy".into()]
        }
    );
    match &col("moods").pg_type.kind {
        PgTypeKind::Array { element } => assert_eq!(element.name, "mood"),
        other => panic!("moods: {other:?}"),
    }
    match &col("s").pg_type.kind {
        PgTypeKind::Domain {
            base,
            base_type_modifier,
        } => {
            assert_eq!(base.name, "varchar");
            assert_eq!(*base_type_modifier, 24);
        }
        other => panic!("s: {other:?}"),
    }
    match &col("p").pg_type.kind {
        PgTypeKind::Domain { base, .. } => assert_eq!(base.name, "int4"),
        other => panic!("p: {other:?}"),
    }
    match &col("tags").pg_type.kind {
        PgTypeKind::Array { element } => assert_eq!(element.name, "text"),
        other => panic!("tags: {other:?}"),
    }
    assert_eq!(col("r").pg_type.kind, PgTypeKind::Range);
    assert_eq!(col("pt").pg_type.kind, PgTypeKind::Base);

    let by_oid = load_table_schema(&client, t.relation_oid).await?;
    assert_eq!(by_oid, t);

    let missing = load_table_schema_by_name(&client, &TableId::new("public", "nope")).await;
    let err = missing.unwrap_err();
    assert!(matches!(err, PgError::TableNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("public.nope"), "{err}");
    assert!(!err.is_transient());
    Ok(())
}

#[tokio::test]
async fn type_cache_resolves_once_and_invalidates() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    pg.execute("CREATE TYPE color AS ENUM ('red'); CREATE TABLE t (c color[]);")
        .await?;
    let client = pg.connect().await?;
    let mut cache = TypeCache::new();
    let oid = table_oid(&client, &TableId::new("public", "t")).await?;
    let t = load_table_schema_cached(&client, oid, &mut cache).await?;
    let arr = t.columns[0].pg_type.clone();
    let PgTypeKind::Array { element } = &arr.kind else {
        panic!("{arr:?}")
    };
    assert_eq!(
        element.kind,
        PgTypeKind::Enum {
            labels: vec!["red".into()]
        }
    );
    assert_eq!(cache.len(), 2);
    pg.execute("ALTER TYPE color ADD VALUE 'blue'").await?;
    // Cached: still the old labels.
    assert_eq!(cache.resolve(&client, arr.oid).await?, arr);
    cache.invalidate(element.oid);
    assert!(cache.is_empty(), "array of the enum must be forgotten too");
    let fresh = cache.resolve(&client, arr.oid).await?;
    let PgTypeKind::Array { element } = &fresh.kind else {
        panic!("{fresh:?}")
    };
    assert_eq!(
        element.kind,
        PgTypeKind::Enum {
            labels: vec!["red".into(), "blue".into()]
        }
    );
    Ok(())
}

#[tokio::test]
async fn lists_tables_and_manages_publications_and_slots() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    pg.execute(
        r#"
        CREATE TABLE a (id int PRIMARY KEY);
        CREATE TABLE "B""q" (id int PRIMARY KEY);
        CREATE TABLE parted (id int, PRIMARY KEY (id)) PARTITION BY RANGE (id);
        CREATE VIEW v AS SELECT 1;
        CREATE SEQUENCE s;
        "#,
    )
    .await?;
    let client = pg.connect().await?;
    let tables: Vec<TableId> = list_tables(&client)
        .await?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        tables,
        vec![
            TableId::new("public", "B\"q"),
            TableId::new("public", "a"),
            TableId::new("public", "parted")
        ]
    );

    check_logical_replication(&client).await?;
    check_replication_role(&client).await?;

    assert!(!publication_exists(&client, "Pub\"1").await?);
    let err = publication_tables(&client, "Pub\"1").await.unwrap_err();
    assert!(matches!(err, PgError::PublicationNotFound { .. }), "{err}");
    create_publication_for_tables(&client, "Pub\"1", &[TableId::new("public", "B\"q")]).await?;
    assert!(publication_exists(&client, "Pub\"1").await?);
    assert_eq!(
        publication_tables(&client, "Pub\"1").await?,
        vec![TableId::new("public", "B\"q")]
    );
    set_publication_tables(&client, "Pub\"1", &[TableId::new("public", "a")]).await?;
    assert_eq!(
        publication_tables(&client, "Pub\"1").await?,
        vec![TableId::new("public", "a")]
    );
    set_publication_tables(&client, "Pub\"1", &[]).await?;
    assert_eq!(
        publication_tables(&client, "Pub\"1").await?,
        Vec::<TableId>::new()
    );
    create_publication_all_tables(&client, "all").await?;
    assert_eq!(
        publication_tables(&client, "all").await?,
        vec![TableId::new("public", "B\"q"), TableId::new("public", "a")]
    );

    assert_eq!(slot_info(&client, "s1").await?, None);
    let err = slot_lag_bytes(&client, "s1").await.unwrap_err();
    assert!(matches!(err, PgError::SlotNotFound { .. }), "{err}");
    client
        .batch_execute("SELECT pg_create_logical_replication_slot('s1', 'pgoutput')")
        .await?;
    let info = slot_info(&client, "s1").await?.expect("slot exists");
    assert_eq!(info.plugin.as_deref(), Some("pgoutput"));
    assert_eq!(info.database.as_deref(), Some("postgres"));
    assert!(!info.active);
    assert_eq!(info.active_pid, None);
    assert!(info.confirmed_flush_lsn.unwrap().is_valid());
    assert!(info.restart_lsn.is_some());
    client.batch_execute("INSERT INTO a VALUES (1)").await?;
    // With synchronous_commit off the WAL writer makes the insert visible to
    // pg_current_wal_lsn() a moment later.
    let lag = walcast_testkit::eventually(
        std::time::Duration::from_secs(10),
        "slot lag > 0",
        || async {
            slot_lag_bytes(&client, "s1")
                .await
                .ok()
                .flatten()
                .filter(|l| *l > 0)
        },
    )
    .await?;
    assert!(lag > 0, "lag {lag}");
    assert!(drop_slot_if_exists(&client, "s1").await?);
    assert!(!drop_slot_if_exists(&client, "s1").await?);
    Ok(())
}

#[tokio::test]
async fn wal_level_replica_gives_a_clear_error() -> anyhow::Result<()> {
    let pg = Postgres::builder()
        .setting("wal_level", "replica")
        .start()
        .await?;
    let client = pg.connect().await?;
    let err = check_logical_replication(&client).await.unwrap_err();
    assert!(matches!(err, PgError::WalLevelNotLogical { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("set wal_level = logical in postgresql.conf and restart PostgreSQL"),
        "{err}"
    );
    assert!(!err.is_transient());
    Ok(())
}

#[tokio::test]
async fn role_without_replication_gives_a_clear_error() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    pg.execute("CREATE ROLE plain LOGIN").await?;
    let (client, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=plain dbname=postgres",
            pg.port()
        ),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(conn);
    let err = check_logical_replication(&client).await.unwrap_err();
    assert!(
        matches!(err, PgError::MissingReplicationPrivilege { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("ALTER ROLE \"plain\" REPLICATION"),
        "{err}"
    );
    Ok(())
}

/// A server error wrapped by walcast reads in PostgreSQL's own words, once: SQLSTATE, message,
/// detail, hint and the table/column the server names, never tokio-postgres's bare `db error`.
#[tokio::test]
async fn query_errors_carry_the_servers_words() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    pg.execute(
        "CREATE TABLE parent (id int PRIMARY KEY);
         CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id));",
    )
    .await?;
    let client = pg.connect().await?;
    let e = client
        .batch_execute("INSERT INTO child VALUES (1, 42)")
        .await
        .unwrap_err();
    let e = PgError::query("writing public.child", e);
    let text = e.to_string();
    assert!(text.starts_with("writing public.child: ERROR 23503: insert or update on table \"child\" violates foreign key constraint"), "{text}");
    assert!(text.contains("(detail: withheld"), "{text}");
    assert!(!text.contains("42"), "row values must not appear: {text}");
    assert!(
        text.contains("[table public.child, constraint child_parent_id_fkey]"),
        "{text}"
    );
    assert!(!text.contains("db error"), "{text}");
    // Nothing below it repeats the message.
    assert!(std::error::Error::source(&e).is_none());
    assert_eq!(e.code(), Some("23503"));
    assert!(!e.is_transient());

    let e = client
        .batch_execute("SELECT * FROM missing_table")
        .await
        .unwrap_err();
    let text = PgError::query("reading", e).to_string();
    assert!(
        text.contains("ERROR 42P01: relation \"missing_table\" does not exist"),
        "{text}"
    );

    let e = client
        .batch_execute("DO $$ BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = '55P03', HINT = 'wait and retry'; END $$;")
        .await
        .unwrap_err();
    let e = PgError::query("locking", e);
    assert!(e.to_string().contains("(hint: wait and retry)"), "{e}");
    assert!(e.is_transient(), "a lock timeout is retried");
    Ok(())
}
