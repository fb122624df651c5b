//! Conformance with real Debezium: the captured fixtures under `tests/fixtures/<case>/` and a
//! comparison of records that ignores what legitimately differs between two runs (timestamps,
//! LSNs, transaction ids, walcast's version suffix, snapshot marker positions). The end-to-end
//! conformance test and the encoder's fixture tests in this crate share it.
//!
//! A fixture directory holds `setup.sql` (its rows arrive as snapshot events, op `r`),
//! `changes.sql` (streamed events), an optional `extra.properties` (connector properties on top
//! of `topic.prefix=dbserver1`, `database.dbname=postgres`), the captured `expected.jsonl` (one
//! `{"topic","key","value"}` per Kafka record) and, where Debezium is wrong, an
//! `expected.corrected.jsonl` with the right values and a `NOTES.md` saying why. Tests compare
//! against the corrected file when there is one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

/// The fixture root (`tests/fixtures`).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// One captured case.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub dir: PathBuf,
    pub setup_sql: String,
    pub changes_sql: String,
    /// Connector properties: the capture script's base ones plus `extra.properties`.
    pub properties: BTreeMap<String, String>,
    /// The records to compare with (corrected where Debezium is wrong).
    pub expected: Vec<Value>,
    /// Whether `expected` comes from `expected.corrected.jsonl`.
    pub corrected: bool,
}

fn read_jsonl(path: &Path) -> Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), i + 1))
        })
        .collect()
}

impl Fixture {
    /// Loads a fixture directory; `extra.properties` is read with the worker's properties
    /// parser, as a connector file would be.
    pub fn load(dir: &Path) -> Result<Self> {
        let read = |f: &str| {
            let path = dir.join(f);
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
        };
        let mut properties = BTreeMap::new();
        properties.insert("topic.prefix".to_string(), "dbserver1".to_string());
        properties.insert("database.dbname".to_string(), "postgres".to_string());
        let extra = dir.join("extra.properties");
        if extra.exists() {
            let text = read("extra.properties")?;
            properties.extend(
                walcast_connect_api::properties::parse_map(&text)
                    .with_context(|| format!("parsing {}", extra.display()))?,
            );
        }
        let corrected_path = dir.join("expected.corrected.jsonl");
        let corrected = corrected_path.exists();
        let expected = if corrected {
            read_jsonl(&corrected_path)?
        } else {
            read_jsonl(&dir.join("expected.jsonl"))?
        };
        Ok(Fixture {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir: dir.to_path_buf(),
            setup_sql: read("setup.sql")?,
            changes_sql: read("changes.sql")?,
            properties,
            expected,
            corrected,
        })
    }

    /// The expected snapshot records (value op `r`).
    pub fn snapshot_events(&self) -> Vec<&Value> {
        self.expected
            .iter()
            .filter(|e| event_op(e) == Some("r"))
            .collect()
    }
}

/// Every fixture under [`fixtures_dir`], sorted by name.
pub fn load_all() -> Result<Vec<Fixture>> {
    let root = fixtures_dir();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .with_context(|| format!("reading {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("setup.sql").exists())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| Fixture::load(d)).collect()
}

/// The envelope payload of a record's value, whether or not it carries a schema.
pub fn value_payload(record: &Value) -> Option<&Value> {
    let v = record.get("value")?;
    if v.is_null() {
        return None;
    }
    match (v.get("schema"), v.get("payload")) {
        (Some(_), Some(p)) => Some(p),
        _ => Some(v),
    }
}

/// The `op` of a record (`None` for tombstones).
pub fn event_op(record: &Value) -> Option<&str> {
    value_payload(record)?.get("op")?.as_str()
}

const SNAPSHOT_MARKERS: [&str; 5] = [
    "true",
    "first",
    "last",
    "first_in_data_collection",
    "last_in_data_collection",
];

/// Compares two records `{"topic","key","value"}` field by field, key order included, ignoring
/// `ts_ms`/`ts_us`/`ts_ns` of the envelope and of `source`, and `source.lsn`, `txId`,
/// `sequence`, `xmin`, and which snapshot marker a snapshot row got. `source.version` may differ
/// only by walcast's `+walcast.<version>` suffix. The error names the first differing path.
pub fn compare_events(expected: &Value, actual: &Value) -> Result<(), String> {
    compare(expected, actual, &mut Vec::new())
}

fn ignored(path: &[String], expected: &Value, actual: &Value) -> bool {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    // Locate the envelope payload: value.payload.<x> or value.<x> (schemas disabled).
    let rest: &[&str] = match p.as_slice() {
        ["value", "payload", rest @ ..] => rest,
        ["value", rest @ ..] if !matches!(rest.first(), Some(&"schema")) => rest,
        _ => return false,
    };
    match rest {
        ["ts_ms" | "ts_us" | "ts_ns"] => true,
        ["source", "ts_ms" | "ts_us" | "ts_ns" | "lsn" | "txId" | "sequence" | "xmin"] => true,
        // The one allowed difference in the version: walcast appends `+walcast.<version>` to
        // Debezium's (see `DEFAULT_SOURCE_VERSION`); anything else must match.
        ["source", "version"] => match (expected.as_str(), actual.as_str()) {
            (Some(e), Some(a)) => a
                .strip_prefix(e)
                .and_then(|rest| rest.strip_prefix("+walcast."))
                .is_some_and(|v| !v.is_empty()),
            _ => false,
        },
        ["source", "snapshot"] => {
            let is_marker = |v: &Value| v.as_str().is_some_and(|s| SNAPSHOT_MARKERS.contains(&s));
            is_marker(expected) && is_marker(actual)
        }
        _ => false,
    }
}

fn compare(expected: &Value, actual: &Value, path: &mut Vec<String>) -> Result<(), String> {
    if ignored(path, expected, actual) {
        return Ok(());
    }
    let here = |path: &Vec<String>| {
        if path.is_empty() {
            "<root>".to_string()
        } else {
            path.join(".")
        }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let ek: Vec<&String> = e.keys().collect();
            let ak: Vec<&String> = a.keys().collect();
            if ek != ak {
                return Err(format!(
                    "{}: expected fields {ek:?}, got {ak:?}",
                    here(path)
                ));
            }
            for (k, ev) in e {
                path.push(k.clone());
                let r = compare(ev, &a[k], path);
                path.pop();
                r?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{}: expected {} elements, got {}",
                    here(path),
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                path.push(i.to_string());
                let r = compare(ev, av, path);
                path.pop();
                r?;
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) => {
            // Doubles compare by value (1.0E-7 == 1e-7); an integer never equals a double,
            // since that would be a different Connect type.
            let same = if e.is_f64() && a.is_f64() {
                e.as_f64() == a.as_f64()
            } else {
                e == a
            };
            if same {
                Ok(())
            } else {
                Err(format!("{}: expected {e}, got {a}", here(path)))
            }
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!(
            "{}: expected {}, got {}",
            here(path),
            short(expected),
            short(actual)
        )),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        let mut end = 200;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ignores_only_the_ignore_list() {
        let e = json!({"topic":"t","key":{"id":1},"value":{"schema":{},"payload":{
            "before":null,"after":{"id":1},"source":{"version":"3.6.3.Final","ts_ms":1,"snapshot":"first","lsn":5,"txId":1,"sequence":"[null,\"1\"]","xmin":null,"table":"t"},
            "op":"r","ts_ms":1,"ts_us":2,"ts_ns":3}}});
        let mut a = e.clone();
        a["value"]["payload"]["ts_ms"] = json!(99);
        a["value"]["payload"]["source"]["lsn"] = json!(77);
        a["value"]["payload"]["source"]["version"] = json!("x");
        assert!(compare_events(&e, &a)
            .unwrap_err()
            .contains("source.version"));
        a["value"]["payload"]["source"]["version"] = json!("3.6.3.Final+walcast.");
        assert!(compare_events(&e, &a).is_err());
        a["value"]["payload"]["source"]["version"] =
            json!(walcast_debezium::DEFAULT_SOURCE_VERSION);
        a["value"]["payload"]["source"]["snapshot"] = json!("true");
        assert_eq!(compare_events(&e, &a), Ok(()));
        a["value"]["payload"]["source"]["snapshot"] = json!("false");
        assert!(compare_events(&e, &a).is_err());
        a["value"]["payload"]["source"]["snapshot"] = json!("first");
        a["value"]["payload"]["after"]["id"] = json!(2);
        let err = compare_events(&e, &a).unwrap_err();
        assert!(err.contains("value.payload.after.id"), "{err}");
    }

    #[test]
    fn field_order_matters() {
        let e: Value = serde_json::from_str(r#"{"a":1,"b":2}"#).unwrap();
        let a: Value = serde_json::from_str(r#"{"b":2,"a":1}"#).unwrap();
        assert!(compare_events(&e, &a).is_err());
    }

    #[test]
    fn numbers_compare_by_value() {
        let e: Value = serde_json::from_str(r#"{"f":1.0E-7,"i":5}"#).unwrap();
        let a: Value = serde_json::from_str(r#"{"f":1e-7,"i":5}"#).unwrap();
        assert_eq!(compare_events(&e, &a), Ok(()));
        let a: Value = serde_json::from_str(r#"{"f":1e-7,"i":5.0}"#).unwrap();
        assert!(compare_events(&e, &a).is_err());
    }

    #[test]
    fn all_fixtures_load() {
        let all = load_all().unwrap();
        assert!(all.len() >= 20, "only {} fixtures", all.len());
        for f in &all {
            assert!(!f.expected.is_empty(), "{} has no events", f.name);
        }
    }
}
