//! Encode rate of the hot path: 1M inserts into an `orders`-like table (bigint key, int, text,
//! numeric(12,2), timestamptz, text) turned into Debezium JSON key and value records with
//! schemas, on one core, reusing the output buffers. Run with
//! `cargo run --release -p walcast-debezium --example encode_rate`.

use std::time::Instant;

use bytes::Bytes;
use walcast_debezium::{EncodedRecords, EventConfig, Op, RowChange, SourceInfo, TableEncoder};
use walcast_pgoutput::{
    ColumnSchema, PgType, PgTypeKind, ReplicaIdentity, TableId, TableSchema, TupleValue,
};

fn column(name: &str, ty: &str, typmod: i32, nullable: bool, pk: Option<u16>) -> ColumnSchema {
    ColumnSchema {
        name: name.into(),
        attnum: 0,
        pg_type: PgType {
            oid: 0,
            schema: "pg_catalog".into(),
            name: ty.into(),
            kind: PgTypeKind::Base,
        },
        type_modifier: typmod,
        nullable,
        default_expr: None,
        primary_key_position: pk,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const ROWS: usize = 1_000_000;
    let table = TableSchema {
        relation_oid: 1,
        id: TableId::new("public", "orders"),
        columns: vec![
            column("id", "int8", -1, false, Some(1)),
            column("customer_id", "int4", -1, false, None),
            column("status", "text", -1, true, None),
            column("amount", "numeric", ((12 << 16) | 2) + 4, true, None),
            column("created_at", "timestamptz", -1, true, None),
            column("note", "text", -1, true, None),
        ],
        replica_identity: ReplicaIdentity::Default,
    };
    let config = EventConfig::with_defaults("dbserver1", "shop");
    let encoder = TableEncoder::new(&table, &config)?;

    // Pre-built rows in pgoutput's text form (the decoder hands out `Bytes` slices like these).
    let statuses = ["new", "paid", "shipped", "delivered"];
    let rows: Vec<Vec<TupleValue>> = (0..1024)
        .map(|i: i64| {
            let text = |s: String| TupleValue::Text(Bytes::from(s));
            vec![
                text(format!("{}", 1_000_000 + i)),
                text(format!("{}", 40_000 + i % 977)),
                text(statuses[(i % 4) as usize].to_string()),
                text(format!("{}.{:02}", 10 + i * 7 % 9000, i % 100)),
                text(format!(
                    "2024-03-{:02} 12:{:02}:{:02}.{:06}+00",
                    1 + i % 28,
                    i % 60,
                    (i * 7) % 60,
                    i * 997 % 1_000_000
                )),
                if i % 3 == 0 {
                    TupleValue::Null
                } else {
                    text(format!("order note number {i} \"quoted\""))
                },
            ]
        })
        .collect();

    let mut out = EncodedRecords::new();
    let mut bytes = 0usize;
    let start = Instant::now();
    for n in 0..ROWS {
        let row = &rows[n % rows.len()];
        let source = SourceInfo {
            ts_us: 1_710_000_000_000_000 + n as i64,
            sequence: [Some(0x1600_0000 + n as u64), Some(0x1600_0100 + n as u64)],
            tx_id: Some(700 + n as i64),
            lsn: Some(0x1600_0100 + n as u64),
            ..Default::default()
        };
        let change = RowChange {
            op: Op::Create,
            before: None,
            after: Some(row),
        };
        encoder.encode_change(
            &change,
            &source,
            1_710_000_000_000_000_000 + n as i64,
            &mut out,
        )?;
        for r in out.iter() {
            bytes += r.key().map_or(0, <[u8]>::len) + r.value().map_or(0, <[u8]>::len);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "encoded {ROWS} events in {secs:.3} s: {:.0} events/s, {:.1} MB/s of key+value JSON ({} bytes/event)",
        ROWS as f64 / secs,
        bytes as f64 / secs / 1e6,
        bytes / ROWS
    );
    Ok(())
}
