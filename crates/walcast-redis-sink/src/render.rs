//! Connect values as the text Redis stores: a hash field, a stream entry field, a key part, a
//! `SET` value or a `JSON.SET` document.
//!
//! Everything is rendered in its natural form rather than the JSON wire form: a `Decimal` is
//! `19.99` (not base64), a `Date` is `2024-01-31`, a `Timestamp` is ISO-8601 (`Z` for Connect's
//! UTC instants, no offset for Debezium's timestamps *without* time zone, which are local
//! wall-clock values), strings as they are, raw bytes as raw bytes. Nested structs, arrays and
//! maps become JSON text with the same rules inside.

use std::fmt::Write as _;

use base64::Engine;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta};
use walcast_connect_api::{logical, Schema, Value};

/// The bytes of one non-null value, or `None` for null.
pub fn value_bytes(schema: Option<&Schema>, value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Null => None,
        Value::Bytes(b) => match schema.and_then(|s| logical::as_decimal_text(s, value)) {
            Some(text) => Some(text.into_bytes()),
            None => Some(b.clone()),
        },
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Struct(_) | Value::Array(_) | Value::Map(_) => {
            if let Some(text) = schema.and_then(|s| logical::as_decimal_text(s, value)) {
                return Some(text.into_bytes());
            }
            Some(json(schema, value).into_bytes())
        }
        _ => Some(scalar_text(schema, value).into_bytes()),
    }
}

/// The text of one non-null value (raw bytes read as UTF-8, lossily), or `None` for null. Used
/// for key parts, where Redis keys are text in practice.
pub fn value_text(schema: Option<&Schema>, value: &Value) -> Option<String> {
    value_bytes(schema, value).map(|b| match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Natural text of a primitive (non-bytes, non-string) value, logical types included.
fn scalar_text(schema: Option<&Schema>, value: &Value) -> String {
    if let Some(text) = schema.and_then(|s| logical_text(s, value)) {
        return text;
    }
    match value {
        Value::Boolean(b) => b.to_string(),
        Value::Int8(v) => v.to_string(),
        Value::Int16(v) => v.to_string(),
        Value::Int32(v) => v.to_string(),
        Value::Int64(v) => v.to_string(),
        Value::Float32(v) => float_text(f64::from(*v), Some(*v)),
        Value::Float64(v) => float_text(*v, None),
        Value::String(s) => s.clone(),
        other => json(schema, other),
    }
}

/// Floats like Java and PostgreSQL spell the non-finite ones; finite ones in Rust's shortest
/// round-tripping form (`f32` values printed as `f32`, so `0.1f32` is `0.1`).
fn float_text(v: f64, as_f32: Option<f32>) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if let Some(f) = as_f32 {
        f.to_string()
    } else {
        v.to_string()
    }
}

/// Text of the time and date logical types Connect and Debezium define on integers.
fn logical_text(schema: &Schema, value: &Value) -> Option<String> {
    let name = schema.name.as_deref()?;
    let n = value.as_i64()?;
    match name {
        logical::DATE | logical::DBZ_DATE => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
            let d = epoch.checked_add_signed(TimeDelta::try_days(n)?)?;
            Some(d.format("%Y-%m-%d").to_string())
        }
        logical::TIME | logical::DBZ_TIME => time_text(n.checked_mul(1_000_000)?),
        logical::DBZ_MICRO_TIME => time_text(n.checked_mul(1_000)?),
        logical::DBZ_NANO_TIME => time_text(n),
        logical::TIMESTAMP => {
            let t = DateTime::from_timestamp_millis(n)?;
            Some(t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
        }
        logical::DBZ_TIMESTAMP => naive_ts(DateTime::from_timestamp_millis(n)?),
        logical::DBZ_MICRO_TIMESTAMP => naive_ts(DateTime::from_timestamp_micros(n)?),
        logical::DBZ_NANO_TIMESTAMP => naive_ts(DateTime::from_timestamp_nanos(n)),
        _ => None,
    }
}

fn naive_ts(t: DateTime<chrono::Utc>) -> Option<String> {
    Some(t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string())
}

/// A time of day from nanoseconds since midnight; PostgreSQL's `24:00:00` included.
fn time_text(nanos: i64) -> Option<String> {
    const DAY: i64 = 86_400_000_000_000;
    if nanos == DAY {
        return Some("24:00:00".into());
    }
    if !(0..DAY).contains(&nanos) {
        return None;
    }
    let secs = u32::try_from(nanos / 1_000_000_000).ok()?;
    let sub = u32::try_from(nanos % 1_000_000_000).ok()?;
    let t = NaiveTime::from_num_seconds_from_midnight_opt(secs, sub)?;
    Some(t.format("%H:%M:%S%.f").to_string())
}

/// A value as JSON text with natural forms for logical types (a `Decimal` is a JSON number,
/// dates and times are strings, other bytes base64).
pub fn json(schema: Option<&Schema>, value: &Value) -> String {
    let mut out = String::new();
    write_json(&mut out, schema, value);
    out
}

fn write_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        // Serializing a &str cannot fail; keep the output valid JSON regardless.
        Err(_) => out.push_str("\"\""),
    }
}

fn write_json(out: &mut String, schema: Option<&Schema>, value: &Value) {
    if let Some(text) = schema.and_then(|s| logical::as_decimal_text(s, value)) {
        out.push_str(&text);
        return;
    }
    if let Some(text) = schema.and_then(|s| logical_text(s, value)) {
        write_str(out, &text);
        return;
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Int8(_) | Value::Int16(_) | Value::Int32(_) | Value::Int64(_) => {
            let _ = write!(out, "{}", value.as_i64().unwrap_or_default());
        }
        Value::Float32(v) if v.is_finite() => out.push_str(&v.to_string()),
        Value::Float64(v) if v.is_finite() => out.push_str(&v.to_string()),
        Value::Float32(v) => write_str(out, &float_text(f64::from(*v), None)),
        Value::Float64(v) => write_str(out, &float_text(*v, None)),
        Value::String(s) => write_str(out, s),
        Value::Bytes(b) => write_str(out, &base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Array(items) => {
            let elem = schema.and_then(|s| s.value_schema.as_deref());
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, elem, item);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let key_schema = schema.and_then(|s| s.key_schema.as_deref());
            let val_schema = schema.and_then(|s| s.value_schema.as_deref());
            if entries.iter().all(|(k, _)| matches!(k, Value::String(_))) {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k.as_str().unwrap_or_default());
                    out.push(':');
                    write_json(out, val_schema, v);
                }
                out.push('}');
            } else {
                // Non-string keys: `[key, value]` pairs, as Connect's JsonConverter does.
                out.push('[');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('[');
                    write_json(out, key_schema, k);
                    out.push(',');
                    write_json(out, val_schema, v);
                    out.push(']');
                }
                out.push(']');
            }
        }
        Value::Struct(s) => {
            out.push('{');
            for (i, (f, v)) in s.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, &f.name);
                out.push(':');
                write_json(out, Some(&f.schema), v);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use walcast_connect_api::{Field, SchemaType, Struct};

    use super::*;

    fn text(schema: &Schema, v: Value) -> String {
        value_text(Some(schema), &v).unwrap()
    }

    #[test]
    fn logical_types_in_natural_form() {
        let dec = Schema::primitive(SchemaType::Bytes)
            .named(logical::DECIMAL)
            .with_parameter("scale", "2");
        assert_eq!(text(&dec, Value::Bytes(vec![0x07, 0xCF])), "19.99");
        let date = Schema::primitive(SchemaType::Int32).named(logical::DBZ_DATE);
        assert_eq!(text(&date, Value::Int32(19_753)), "2024-01-31");
        let ts = Schema::primitive(SchemaType::Int64).named(logical::TIMESTAMP);
        assert_eq!(
            text(&ts, Value::Int64(1_706_700_000_123)),
            "2024-01-31T11:20:00.123Z"
        );
        let micro = Schema::primitive(SchemaType::Int64).named(logical::DBZ_MICRO_TIMESTAMP);
        assert_eq!(
            text(&micro, Value::Int64(1_706_700_000_000_001)),
            "2024-01-31T11:20:00.000001"
        );
        let mt = Schema::primitive(SchemaType::Int64).named(logical::DBZ_MICRO_TIME);
        assert_eq!(text(&mt, Value::Int64(3_723_500_000)), "01:02:03.500");
        assert_eq!(text(&mt, Value::Int64(86_400_000_000)), "24:00:00");
        let plain = Schema::primitive(SchemaType::Float64);
        assert_eq!(text(&plain, Value::Float64(2.5)), "2.5");
        assert_eq!(text(&plain, Value::Float64(f64::NEG_INFINITY)), "-Infinity");
        assert_eq!(value_text(None, &Value::Null), None);
        assert_eq!(
            value_bytes(None, &Value::Bytes(vec![0, 159])).unwrap(),
            vec![0, 159]
        );
    }

    #[test]
    fn json_with_natural_logical_values() {
        let dec = Arc::new(
            Schema::primitive(SchemaType::Bytes)
                .named(logical::DECIMAL)
                .with_parameter("scale", "2"),
        );
        let date = Arc::new(Schema::primitive(SchemaType::Int32).named(logical::DATE));
        let schema = Arc::new(Schema::structure(
            None,
            vec![
                Field::new("price", dec),
                Field::new("day", date),
                Field::new("name", Schema::optional(SchemaType::String)),
                Field::new(
                    "tags",
                    Schema::array(Arc::new(Schema::primitive(SchemaType::String))),
                ),
            ],
        ));
        let mut s = Struct::new(schema.clone());
        s.put("price", Value::Bytes(vec![0x07, 0xCF]));
        s.put("day", Value::Int32(0));
        s.put("name", Value::String("a\"b".into()));
        s.put("tags", Value::Array(vec![Value::String("x".into())]));
        assert_eq!(
            json(Some(&schema), &Value::Struct(s)),
            r#"{"price":19.99,"day":"1970-01-01","name":"a\"b","tags":["x"]}"#
        );
        let map = Value::Map(vec![(Value::Int64(1), Value::Float64(f64::NAN))]);
        assert_eq!(json(None, &map), r#"[[1,"NaN"]]"#);
    }
}
