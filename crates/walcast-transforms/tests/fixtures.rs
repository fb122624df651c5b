//! walcast's transform chains against the real Kafka Connect / Debezium classes: each
//! `tests/fixtures/<case>/` holds an input (captured Debezium events), a chain
//! (`chain.properties`) and what `../shared/reference/transforms/apply.sh` made of it
//! (`expected.jsonl`). Record i is partition 0, offset i, timestamp 1700000000000 + i, as the
//! reference does; topic, partition, offset, key, value (schemas included) and headers are
//! compared field by field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use walcast_connect_api::Value;
use walcast_connect_api::{ConnectRecord, Header};
use walcast_transforms::{Outcome, TransformChain};

/// The first difference between two JSON documents (object key order ignored: the reference
/// writes schemaless maps in Java `HashMap` order).
fn diff(a: &Json, b: &Json, path: &str) -> Option<String> {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            let mut xk: Vec<_> = x.keys().collect();
            let mut yk: Vec<_> = y.keys().collect();
            xk.sort();
            yk.sort();
            if xk != yk {
                return Some(format!("{path}: keys {xk:?} vs {yk:?}"));
            }
            x.iter()
                .find_map(|(k, v)| diff(v, &y[k], &format!("{path}.{k}")))
        }
        (Json::Array(x), Json::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: lengths {} vs {}", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| diff(v, w, &format!("{path}[{i}]")))
        }
        (Json::Number(x), Json::Number(y)) if x.as_f64() == y.as_f64() => None,
        _ if a == b => None,
        _ => Some(format!("{path}: walcast {a} vs reference {b}")),
    }
}

/// A header value in the reference's string form (Connect's `Values.convertToString`).
fn header_string(h: &Header) -> Json {
    walcast_connect_api::convert_to_string(h.schema.as_deref(), &h.value)
        .map_or(Json::Null, Json::from)
}

fn read_part(json: &Json, schemas: bool) -> (Option<walcast_connect_api::SchemaRef>, Value) {
    let bytes = (!json.is_null()).then(|| serde_json::to_vec(json).expect("serialise"));
    walcast_json::read(bytes.as_deref(), schemas).expect("fixture input reads")
}

fn write_part(
    schema: Option<&walcast_connect_api::SchemaRef>,
    value: &Value,
    schemas: bool,
) -> Json {
    match walcast_json::write(schema.map(|s| &**s), value, schemas) {
        None => Json::Null,
        Some(b) => serde_json::from_slice(&b).expect("walcast-json writes JSON"),
    }
}

async fn run_case(dir: &Path, batch_size: usize) -> Result<usize, String> {
    let text = |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{f}: {e}"));
    let config: BTreeMap<String, String> =
        walcast_connect_api::properties::parse_map(&text("chain.properties")?)
            .map_err(|e| format!("chain.properties: {e}"))?;
    let key_schemas = config
        .get("key.converter.schemas.enable")
        .is_none_or(|v| v == "true");
    let value_schemas = config
        .get("value.converter.schemas.enable")
        .is_none_or(|v| v == "true");
    let mut chain = TransformChain::from_config(&config).map_err(|i| format!("config: {i:?}"))?;
    let mut records = Vec::new();
    for (i, line) in text("input.jsonl")?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
    {
        let j: Json = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let (key_schema, key) = read_part(&j["key"], key_schemas);
        let (value_schema, value) = read_part(&j["value"], value_schemas);
        records.push(ConnectRecord {
            topic: j["topic"].as_str().unwrap_or_default().to_string(),
            partition: Some(0),
            offset: Some(i as i64),
            timestamp_ms: Some(1_700_000_000_000 + i as i64),
            key_schema,
            key,
            value_schema,
            value,
            headers: Vec::new(),
        });
    }
    let mut kept = Vec::new();
    let mut rest = records;
    while !rest.is_empty() {
        let tail = rest.split_off(batch_size.min(rest.len()));
        let n = rest.len();
        let outcomes = chain.apply_batch(rest).await.map_err(|e| e.to_string())?;
        assert_eq!(outcomes.len(), n, "one outcome per record");
        for o in outcomes {
            match o {
                Outcome::Keep(r) => kept.push(r),
                Outcome::Dropped => {}
                Outcome::Failed(e) => return Err(format!("record failed: {e}")),
            }
        }
        rest = tail;
    }
    let expected: Vec<Json> = text("expected.jsonl")?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let kept_offsets: Vec<i64> = kept.iter().filter_map(|r| r.offset).collect();
    let expected_offsets: Vec<i64> = expected
        .iter()
        .filter_map(|e| e["offset"].as_i64())
        .collect();
    if kept_offsets != expected_offsets {
        return Err(format!(
            "kept offsets differ:\n walcast   {kept_offsets:?}\n reference {expected_offsets:?}"
        ));
    }
    for (r, e) in kept.iter().zip(&expected) {
        let at = format!("offset {}", r.offset.unwrap_or(-1));
        let mut headers = serde_json::Map::new();
        for h in &r.headers {
            headers.insert(h.key.clone(), header_string(h));
        }
        let got = serde_json::json!({
            "topic": r.topic,
            "partition": r.partition,
            "offset": r.offset,
            "key": write_part(r.key_schema.as_ref(), &r.key, key_schemas),
            "value": write_part(r.value_schema.as_ref(), &r.value, value_schemas),
            "headers": headers,
        });
        if let Some(d) = diff(&got, e, &at) {
            return Err(d);
        }
    }
    Ok(expected.len())
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("chain.properties").exists())
        .collect();
    dirs.sort();
    dirs
}

#[tokio::test]
async fn chains_match_the_reference() {
    let dirs = cases();
    assert!(dirs.len() >= 15, "fixture cases missing: {}", dirs.len());
    let mut failures = Vec::new();
    let mut compared = 0;
    for dir in &dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        // Whole input as one batch, and in small batches (predicates split batches).
        for batch in [usize::MAX, 5] {
            match run_case(dir, batch).await {
                Ok(n) => compared += n,
                Err(e) => failures.push(format!("{name} (batch {batch}): {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(compared > 500, "only {compared} records compared");
}
