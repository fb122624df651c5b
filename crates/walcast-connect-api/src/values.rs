//! Connect's `Values.convertToString`: the text form of a value, which is what Connect's default
//! header converter (`SimpleHeaderConverter`) writes as a record header's bytes.

use base64::Engine;

use crate::data::{logical, Schema, Value};

/// The text Connect's `Values.convertToString(schema, value)` gives, `None` for a null value.
/// Strings as they are, numbers as Java prints them (`1.0`, `1.0E10`), bytes in base64,
/// `Decimal` as its decimal text, `Date`/`Time`/`Timestamp` as ISO-8601 in UTC, and arrays,
/// maps and structs as `[a,b]`, `{"k":v}` and `{"field":v}` with strings quoted inside them.
/// `Date`, `Time` and `Timestamp` values take the form Connect picks from the instant, not from
/// the schema: `HH:mm:ss.SSSZ` before the end of 1970-01-01, `yyyy-MM-dd` at a midnight, else
/// `yyyy-MM-ddTHH:mm:ss.SSSZ` (in UTC, as on a worker whose time zone is UTC).
pub fn convert_to_string(schema: Option<&Schema>, value: &Value) -> Option<String> {
    if value.is_null() {
        return None;
    }
    let mut out = String::new();
    append(&mut out, schema, value, false);
    Some(out)
}

fn append(out: &mut String, schema: Option<&Schema>, value: &Value, embedded: bool) {
    let name = schema.and_then(|s| s.name.as_deref());
    match value {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int32(days) if name == Some(logical::DATE) => {
            out.push_str(&java_date_text(i64::from(*days) * DAY_MS));
        }
        Value::Int32(ms) if name == Some(logical::TIME) => {
            out.push_str(&java_date_text(i64::from(*ms)));
        }
        Value::Int64(ms) if name == Some(logical::TIMESTAMP) => {
            out.push_str(&java_date_text(*ms));
        }
        Value::Int8(v) => out.push_str(&v.to_string()),
        Value::Int16(v) => out.push_str(&v.to_string()),
        Value::Int32(v) => out.push_str(&v.to_string()),
        Value::Int64(v) => out.push_str(&v.to_string()),
        Value::Float32(v) => out.push_str(&java_float(f64::from(*v), v.to_string())),
        Value::Float64(v) => out.push_str(&java_float(*v, v.to_string())),
        Value::String(s) if embedded => quoted(out, s),
        Value::String(s) => out.push_str(s),
        Value::Bytes(b) if name == Some(logical::DECIMAL) => {
            let scale = schema
                .and_then(|s| s.parameters.get("scale"))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            out.push_str(&logical::decimal_text(b, scale));
        }
        Value::Bytes(b) => {
            let text = base64::engine::general_purpose::STANDARD.encode(b);
            if embedded {
                quoted(out, &text);
            } else {
                out.push_str(&text);
            }
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.value_schema.as_deref());
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                append(out, item_schema, v, true);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let key_schema = schema.and_then(|s| s.key_schema.as_deref());
            let value_schema = schema.and_then(|s| s.value_schema.as_deref());
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                append(out, key_schema, k, true);
                out.push(':');
                append(out, value_schema, v, true);
            }
            out.push('}');
        }
        Value::Struct(s) => {
            out.push('{');
            for (i, (field, v)) in s.schema.fields.iter().zip(&s.values).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                quoted(out, &field.name);
                out.push(':');
                append(out, Some(&field.schema), v, true);
            }
            out.push('}');
        }
    }
}

/// A string inside an array, map or struct: in double quotes, with `\` and `"` escaped.
fn quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Java's `Double.toString`/`Float.toString` from Rust's shortest text of the same number
/// (`rust`): `1.0` for integral values, `1.5E10` / `1.0E-4` outside `[10^-3, 10^7)`.
fn java_float(v: f64, rust: String) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let magnitude = v.abs();
    if v == 0.0 || (1e-3..1e7).contains(&magnitude) {
        return if rust.contains('.') {
            rust
        } else {
            format!("{rust}.0")
        };
    }
    // Scientific: the same digits as `rust`, as `d.dddE±x`.
    let (sign, digits) = rust
        .strip_prefix('-')
        .map_or(("", rust.as_str()), |d| ("-", d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all: String = int.chars().chain(frac.chars()).collect();
    let lead = all.find(|c| c != '0').unwrap_or(0);
    let significant = all[lead..].trim_end_matches('0');
    let exponent = int.len() as i64 - lead as i64 - 1;
    let (first, rest) = significant.split_at(1.min(significant.len()));
    let rest = if rest.is_empty() { "0" } else { rest };
    format!("{sign}{first}.{rest}E{exponent}")
}

const DAY_MS: i64 = 86_400_000;

/// A `java.util.Date` as Connect's `Values` prints it: the form depends on the instant.
fn java_date_text(ms: i64) -> String {
    if ms < DAY_MS {
        format!("{}Z", time_text(ms))
    } else if ms % DAY_MS == 0 {
        date_text(ms / DAY_MS)
    } else {
        format!(
            "{}T{}Z",
            date_text(ms.div_euclid(DAY_MS)),
            time_text(ms.rem_euclid(DAY_MS))
        )
    }
}

/// `yyyy-MM-dd` of a day count since 1970-01-01 (proleptic Gregorian).
fn date_text(days: i64) -> String {
    let (year, month, day) = logical::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `HH:mm:ss.SSS` of milliseconds since midnight.
fn time_text(ms: i64) -> String {
    let ms = ms.rem_euclid(DAY_MS);
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::data::{Field, SchemaType, Struct};

    fn text(schema: Option<&Schema>, v: Value) -> String {
        convert_to_string(schema, &v).unwrap_or_else(|| "<null>".into())
    }

    #[test]
    fn primitives_as_connect_prints_them() {
        assert_eq!(text(None, Value::Null), "<null>");
        assert_eq!(text(None, Value::String("c".into())), "c");
        assert_eq!(text(None, Value::Int64(1_700_000_000_123)), "1700000000123");
        assert_eq!(text(None, Value::Boolean(false)), "false");
        assert_eq!(text(None, Value::Float64(100.0)), "100.0");
        assert_eq!(text(None, Value::Float64(1.5)), "1.5");
        assert_eq!(text(None, Value::Float64(1.5e10)), "1.5E10");
        assert_eq!(text(None, Value::Float64(-2e7)), "-2.0E7");
        assert_eq!(text(None, Value::Float64(1.25e-4)), "1.25E-4");
        assert_eq!(text(None, Value::Float32(0.001)), "0.001");
        assert_eq!(text(None, Value::Bytes(b"hi".to_vec())), "aGk=");
    }

    #[test]
    fn logical_types() {
        let mut decimal = Schema::primitive(SchemaType::Bytes);
        decimal.name = Some(logical::DECIMAL.into());
        decimal.parameters.insert("scale".into(), "2".into());
        assert_eq!(
            text(Some(&decimal), Value::Bytes(vec![0x07, 0xCF])),
            "19.99"
        );
        let mut date = Schema::primitive(SchemaType::Int32);
        date.name = Some(logical::DATE.into());
        assert_eq!(text(Some(&date), Value::Int32(19_000)), "2022-01-08");
        // Before the end of the first day Connect prints a time of day, whatever the schema.
        assert_eq!(text(Some(&date), Value::Int32(-1)), "00:00:00.000Z");
        let mut ts = Schema::primitive(SchemaType::Int64);
        ts.name = Some(logical::TIMESTAMP.into());
        assert_eq!(
            text(Some(&ts), Value::Int64(1_700_000_000_123)),
            "2023-11-14T22:13:20.123Z"
        );
        let mut time = Schema::primitive(SchemaType::Int32);
        time.name = Some(logical::TIME.into());
        assert_eq!(text(Some(&time), Value::Int32(3_723_004)), "01:02:03.004Z");
        assert_eq!(text(Some(&ts), Value::Int64(19_000 * DAY_MS)), "2022-01-08");
    }

    #[test]
    fn containers_quote_what_they_hold() {
        let schema = Arc::new(Schema {
            fields: vec![
                Field::new("id", Schema::primitive(SchemaType::Int32)),
                Field::new("name", Schema::primitive(SchemaType::String)),
            ],
            ..Schema::primitive(SchemaType::Struct)
        });
        let s = Value::Struct(Struct {
            schema: Arc::clone(&schema),
            values: vec![Value::Int32(1), Value::String("a\"b".into())],
        });
        assert_eq!(text(Some(&schema), s), r#"{"id":1,"name":"a\"b"}"#);
        assert_eq!(
            text(
                None,
                Value::Array(vec![
                    Value::String("x".into()),
                    Value::Null,
                    Value::Int32(2)
                ])
            ),
            r#"["x",null,2]"#
        );
        assert_eq!(
            text(
                None,
                Value::Map(vec![(Value::String("k".into()), Value::Int64(3))])
            ),
            r#"{"k":3}"#
        );
    }
}
