//! Every key and value walcast's source conformance fixtures hold (captured from real Debezium,
//! every PostgreSQL type and converter setting) reads and writes back to equal JSON.

use std::path::Path;

use serde_json::Value as Json;

/// Compare two JSON documents and name the first path where they differ.
fn diff(a: &Json, b: &Json, path: &str) -> Option<String> {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            // Objects are unordered (the data model keeps schema parameters sorted).
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
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

#[test]
fn source_fixtures_round_trip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for case in entries {
        let file = case.join("expected.jsonl");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let rec: Json = serde_json::from_str(line).expect("fixture line is JSON");
            for part in ["key", "value"] {
                let original = &rec[part];
                let enveloped =
                    original.get("schema").is_some() && original.get("payload").is_some();
                let bytes = if original.is_null() {
                    None
                } else {
                    Some(serde_json::to_vec(original).expect("serialise"))
                };
                let (schema, value) = walcast_json::read(bytes.as_deref(), enveloped)
                    .unwrap_or_else(|e| panic!("{}:{} {part}: {e}", file.display(), n + 1));
                let written = walcast_json::write(schema.as_deref(), &value, enveloped);
                let back: Json = match written {
                    None => Json::Null,
                    Some(b) => serde_json::from_slice(&b).expect("written JSON parses"),
                };
                if let Some(d) = diff(&back, original, part) {
                    panic!("{}:{} differs at {d}", file.display(), n + 1);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "only {checked} documents checked");
}

proptest::proptest! {
    #[test]
    fn read_never_panics_on_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256), schemas in proptest::bool::ANY) {
        let _ = walcast_json::read(Some(&bytes), schemas);
    }

    #[test]
    fn read_never_panics_on_envelopes(schema in r#"\{"type":"(int8|int64|float|bytes|string|struct|array|map)"(,"optional":(true|false))?(,"items":\{"type":"int32"\})?(,"keys":\{"type":"string"\},"values":\{"type":"bytes"\})?(,"fields":\[\{"type":"int16","field":"a"\}\])?(,"name":"org.apache.kafka.connect.data.Decimal","parameters":\{"scale":"-?[0-9]{1,3}"\})?\}"#,
                                      payload in r#"(null|-?[0-9]{1,25}(\.[0-9]{1,30})?|"[A-Za-z0-9+/=]{0,12}"|\[[0-9,"a]{0,10}\]|\{"a":[0-9]{1,6}\}|true)"#) {
        let bytes = format!("{{\"schema\":{schema},\"payload\":{payload}}}");
        if let Ok((s, v)) = walcast_json::read(Some(bytes.as_bytes()), true) {
            let _ = walcast_json::write(s.as_deref(), &v, true);
        }
    }
}
