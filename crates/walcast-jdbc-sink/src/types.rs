//! Connect schemas to PostgreSQL column types (for `CREATE TABLE` and `ALTER TABLE ADD COLUMN`),
//! and Connect values to PostgreSQL's text input form (for `COPY` and text parameters cast to
//! the column's type). Types come from the schema in the message, never from guessing at values;
//! the source's `__debezium.source.column.type` hints refine numeric precision and varchar length.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use walcast_connect_api::logical;
use walcast_connect_api::{Schema, SchemaType, Value};

/// PostgreSQL's longest bit string.
const MAX_BITS: u32 = 83_886_080;

/// The PostgreSQL type for a column of schema `s`.
pub fn pg_type(s: &Schema) -> String {
    if let Some(name) = s.name.as_deref() {
        let t = match name {
            logical::DECIMAL => return decimal_type(s),
            logical::DBZ_VARIABLE_SCALE_DECIMAL => return decimal_type(s),
            logical::DATE | logical::DBZ_DATE => "date",
            logical::TIME
            | logical::DBZ_TIME
            | logical::DBZ_MICRO_TIME
            | logical::DBZ_NANO_TIME => return with_precision("time", s),
            logical::TIMESTAMP
            | logical::DBZ_TIMESTAMP
            | logical::DBZ_MICRO_TIMESTAMP
            | logical::DBZ_NANO_TIMESTAMP => return with_precision("timestamp", s),
            logical::DBZ_ZONED_TIMESTAMP => return with_precision("timestamptz", s),
            logical::DBZ_ZONED_TIME => return with_precision("timetz", s),
            logical::DBZ_JSON => {
                return match source_type(s).as_deref() {
                    Some("JSON") => "json".into(),
                    _ => "jsonb".into(),
                }
            }
            logical::DBZ_UUID => "uuid",
            logical::DBZ_XML => "xml",
            logical::DBZ_INTERVAL | logical::DBZ_MICRO_DURATION => "interval",
            logical::DBZ_BITS => {
                return match s.parameters.get("length") {
                    Some(l) if l.parse::<u32>().is_ok_and(|l| l > 0 && l <= MAX_BITS) => {
                        format!("bit varying({l})")
                    }
                    Some(_) => "bit varying".into(),
                    None => "bytea".into(),
                }
            }
            logical::DBZ_ENUM => "text",
            _ => "",
        };
        if !t.is_empty() {
            return t.into();
        }
    }
    match s.kind {
        SchemaType::Int8 | SchemaType::Int16 => "smallint".into(),
        SchemaType::Int32 => "integer".into(),
        SchemaType::Int64 => "bigint".into(),
        SchemaType::Float32 => "real".into(),
        SchemaType::Float64 => "double precision".into(),
        SchemaType::Boolean => "boolean".into(),
        SchemaType::String => string_type(s),
        SchemaType::Bytes => "bytea".into(),
        SchemaType::Array => match &s.value_schema {
            Some(e) if e.kind != SchemaType::Array => format!("{}[]", pg_type(e)),
            _ => "jsonb".into(),
        },
        SchemaType::Map | SchemaType::Struct => "jsonb".into(),
    }
}

/// The source column's type name, upper case, from Debezium's `column.propagate.source.type`.
fn source_type(s: &Schema) -> Option<String> {
    s.parameters
        .get("__debezium.source.column.type")
        .map(|t| t.to_ascii_uppercase())
}

fn source_param(s: &Schema, p: &str) -> Option<u32> {
    s.parameters
        .get(&format!("__debezium.source.column.{p}"))
        .and_then(|v| v.parse().ok())
}

fn decimal_type(s: &Schema) -> String {
    if s.name.as_deref() == Some(logical::DECIMAL) {
        let scale = logical::decimal_scale(s);
        if let Some(p) = s
            .parameters
            .get("connect.decimal.precision")
            .and_then(|p| p.parse::<i32>().ok())
        {
            if p > 0 && p <= 1000 && (0..=p).contains(&scale) {
                return format!("numeric({p},{scale})");
            }
        }
    }
    if matches!(source_type(s).as_deref(), Some("NUMERIC" | "DECIMAL")) {
        if let Some(len) = source_param(s, "length").filter(|l| *l > 0 && *l <= 1000) {
            let scale = source_param(s, "scale").unwrap_or(0);
            if scale <= len {
                return format!("numeric({len},{scale})");
            }
        }
    }
    "numeric".into()
}

fn string_type(s: &Schema) -> String {
    match source_type(s).as_deref() {
        Some("VARCHAR" | "CHARACTER VARYING") => match source_param(s, "length") {
            Some(l) if l > 0 && l < 10_485_760 => format!("varchar({l})"),
            _ => "varchar".into(),
        },
        Some("BPCHAR" | "CHAR" | "CHARACTER") => match source_param(s, "length") {
            Some(l) if l > 0 && l < 10_485_760 => format!("char({l})"),
            _ => "text".into(),
        },
        _ => "text".into(),
    }
}

/// `time`/`timestamp` with the source's fractional precision when the hint gives one.
fn with_precision(base: &str, s: &Schema) -> String {
    match source_type(s) {
        Some(t) if t.starts_with(&base.to_ascii_uppercase()) || t.starts_with("TIME") => {
            match source_param(s, "scale") {
                Some(p) if p <= 6 => format!("{base}({p})"),
                _ => base.into(),
            }
        }
        _ => base.into(),
    }
}

/// Append the PostgreSQL text input form of `v` (schema `s`, if any) to `out`. Returns false for
/// a null (nothing appended).
pub fn render(s: Option<&Schema>, v: &Value, out: &mut String) -> bool {
    if v.is_null() {
        return false;
    }
    if let Some(s) = s {
        if let Some(name) = s.name.as_deref() {
            if render_logical(name, s, v, out) {
                return true;
            }
        }
    }
    match v {
        Value::Null => return false,
        Value::Boolean(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Int8(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::Int16(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::Int32(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::Int64(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::Float32(f) => float(f64::from(*f), Some(*f), out),
        Value::Float64(f) => float(*f, None, out),
        Value::String(t) => out.push_str(t),
        Value::Bytes(b) => hex(b, out),
        Value::Array(items) => {
            let elem = s.and_then(|s| s.value_schema.as_deref());
            let json_target = s.is_some_and(|s| pg_type(s) == "jsonb")
                || (s.is_none()
                    && items
                        .iter()
                        .any(|i| matches!(i, Value::Map(_) | Value::Struct(_))));
            if json_target {
                out.push_str(&to_json(s, v).to_string());
            } else {
                pg_array(elem, items, out);
            }
        }
        Value::Map(_) | Value::Struct(_) => out.push_str(&to_json(s, v).to_string()),
    }
    true
}

fn float(f: f64, f32v: Option<f32>, out: &mut String) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else if let Some(x) = f32v {
        out.push_str(ryu::Buffer::new().format_finite(x));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(f));
    }
}

fn hex(b: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(2 + b.len() * 2);
    out.push_str("\\x");
    for x in b {
        out.push(char::from(DIGITS[usize::from(x >> 4)]));
        out.push(char::from(DIGITS[usize::from(x & 15)]));
    }
}

/// A PostgreSQL array literal `{...}` (elements double-quoted, NULL for nulls).
fn pg_array(elem: Option<&Schema>, items: &[Value], out: &mut String) {
    out.push('{');
    let mut tmp = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        tmp.clear();
        if render(elem, item, &mut tmp) {
            out.push('"');
            for c in tmp.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        } else {
            out.push_str("NULL");
        }
    }
    out.push('}');
}

/// The logical types; false when `v` does not have the expected representation (then it is
/// rendered by its plain type).
fn render_logical(name: &str, s: &Schema, v: &Value, out: &mut String) -> bool {
    match (name, v) {
        (logical::DECIMAL | logical::DBZ_VARIABLE_SCALE_DECIMAL, _) => {
            match logical::as_decimal_text(s, v) {
                Some(t) => {
                    out.push_str(&t);
                    true
                }
                None => false,
            }
        }
        (logical::DATE | logical::DBZ_DATE, _) => match v.as_i64() {
            Some(days) => date(days, out),
            None => false,
        },
        (logical::TIME | logical::DBZ_TIME, _) => match v.as_i64() {
            Some(ms) => time_of_day(ms.saturating_mul(1000), out),
            None => false,
        },
        (logical::DBZ_MICRO_TIME, _) => match v.as_i64() {
            Some(us) => time_of_day(us, out),
            None => false,
        },
        (logical::DBZ_NANO_TIME, _) => match v.as_i64() {
            Some(ns) => time_of_day(ns / 1000, out),
            None => false,
        },
        (logical::TIMESTAMP, _) => match v.as_i64() {
            // A Connect Timestamp is an instant: write it with its UTC offset so a timestamptz
            // column stores the instant and a timestamp column gets the session zone's wall time.
            Some(ms) => timestamp(ms.saturating_mul(1000), true, out),
            None => false,
        },
        (logical::DBZ_TIMESTAMP, _) => match v.as_i64() {
            Some(ms) => timestamp(ms.saturating_mul(1000), false, out),
            None => false,
        },
        (logical::DBZ_MICRO_TIMESTAMP, _) => match v.as_i64() {
            Some(us) => timestamp(us, false, out),
            None => false,
        },
        (logical::DBZ_NANO_TIMESTAMP, _) => match v.as_i64() {
            Some(ns) => timestamp(ns.div_euclid(1000), false, out),
            None => false,
        },
        (logical::DBZ_ZONED_TIMESTAMP, Value::String(t)) => {
            zoned_timestamp(t, out);
            true
        }
        (logical::DBZ_MICRO_DURATION, _) => match v.as_i64() {
            Some(us) => {
                let _ = write!(out, "{us} microseconds");
                true
            }
            None => false,
        },
        (logical::DBZ_BITS, Value::Bytes(b)) => match s
            .parameters
            .get("length")
            .and_then(|l| l.parse::<usize>().ok())
        {
            // Debezium's Bits are java.util.BitSet bytes: bit i is bit (i % 8) of byte i / 8,
            // and bit 0 is the rightmost character of PostgreSQL's bit string.
            Some(len) if len > 0 => {
                // An unbounded varbit has Debezium's length 2147483647: write the bits the value
                // has, without leading zeros (the bytes do not say how many there were).
                let unbounded = len > MAX_BITS as usize;
                let n = if unbounded { b.len() * 8 } else { len };
                let start = out.len();
                for i in (0..n).rev() {
                    let set = b.get(i / 8).is_some_and(|byte| byte >> (i % 8) & 1 == 1);
                    if set || !unbounded || out.len() > start {
                        out.push(if set { '1' } else { '0' });
                    }
                }
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// A ZonedTimestamp's ISO-8601 text in PostgreSQL's input form: years before 1 (`-0043-...`,
/// Java's proleptic numbering) become `0044-... BC`, and the years Debezium prints for
/// out-of-range instants (`+292278994-...` for the largest, `+292269055-...` for the smallest,
/// which it uses for ±infinity inside arrays) become `infinity` / `-infinity`.
fn zoned_timestamp(t: &str, out: &mut String) {
    let (sign, digits) = match t.as_bytes().first() {
        Some(b'-') => (-1, &t[1..]),
        Some(b'+') => (1, &t[1..]),
        _ => (1, t),
    };
    let Some(dash) = digits.find('-') else {
        out.push_str(t);
        return;
    };
    let Ok(year) = digits[..dash].parse::<i64>() else {
        out.push_str(t);
        return;
    };
    let year = sign * year;
    // `T` and `Z` as PostgreSQL prints them: its parser reads a five-digit year before `T` as
    // a time zone.
    let rest = digits[dash..].replacen('T', " ", 1);
    let rest = match rest.strip_suffix('Z') {
        Some(r) => format!("{r}+00"),
        None => rest,
    };
    if year > 294_276 {
        out.push_str(if digits.starts_with("292269055-") {
            "-infinity"
        } else {
            "infinity"
        });
    } else if year <= 0 {
        let _ = write!(out, "{:04}{rest} BC", 1 - year);
    } else {
        let _ = write!(out, "{year:04}{rest}");
    }
}

/// What Debezium's PostgreSQL connector emits as the day number of dates `infinity` and
/// `-infinity` (PostgreSQL JDBC's infinity sentinels run through its date conversion).
/// (The snapshot and the stream differ.)
const DBZ_DATE_POS_INFINITY: [i64; 2] = [-622_191_234, -2_147_472_692];
const DBZ_DATE_NEG_INFINITY: [i64; 2] = [-625_821_272, -2_147_472_691];

fn date(days: i64, out: &mut String) -> bool {
    if DBZ_DATE_POS_INFINITY.contains(&days) {
        out.push_str("infinity");
        return true;
    }
    if DBZ_DATE_NEG_INFINITY.contains(&days) {
        out.push_str("-infinity");
        return true;
    }
    let Some(d) = NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|e| e.checked_add_signed(chrono::Duration::try_days(days)?))
    else {
        return false;
    };
    push_date(d, out);
    true
}

fn push_date(d: NaiveDate, out: &mut String) {
    let y = d.year();
    let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    let _ = write!(out, "{year:04}-{:02}-{:02}", d.month(), d.day());
    if bc {
        out.push_str(" BC");
    }
}

fn time_of_day(us: i64, out: &mut String) -> bool {
    if !(0..=86_400_000_000).contains(&us) {
        return false;
    }
    let secs = us / 1_000_000;
    let frac = us % 1_000_000;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{frac:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    true
}

/// PostgreSQL JDBC's `DATE_POSITIVE_INFINITY`/`DATE_NEGATIVE_INFINITY` (milliseconds), which
/// Debezium emits for `infinity`/`-infinity` timestamps (times 1000 in micro precision).
const POS_INFINITY_MS: i64 = 9_223_372_036_825_200;
const NEG_INFINITY_MS: i64 = -9_223_372_036_832_400;

fn timestamp(us: i64, utc_offset: bool, out: &mut String) -> bool {
    if us == POS_INFINITY_MS * 1000 {
        out.push_str("infinity");
        return true;
    }
    if us == NEG_INFINITY_MS * 1000 {
        out.push_str("-infinity");
        return true;
    }
    let Some(dt) = chrono::DateTime::from_timestamp_micros(us) else {
        return false;
    };
    let n: NaiveDateTime = dt.naive_utc();
    let y = n.year();
    let (year, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    let _ = write!(
        out,
        "{year:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        n.month(),
        n.day(),
        n.hour(),
        n.minute(),
        n.second(),
        n.nanosecond() / 1000
    );
    if utc_offset {
        out.push_str("+00");
    }
    if bc {
        out.push_str(" BC");
    }
    true
}

/// A JSON rendering of a struct, map or array value for jsonb columns: logical values in their
/// text form, bytes as base64 (as JsonConverter does).
pub fn to_json(s: Option<&Schema>, v: &Value) -> serde_json::Value {
    use base64::Engine;
    use serde_json::Value as J;
    if let (Some(s), Some(name)) = (s, s.and_then(|s| s.name.as_deref())) {
        if name != logical::DBZ_JSON
            && !matches!(v, Value::Struct(_) | Value::Map(_) | Value::Array(_))
            || name == logical::DBZ_VARIABLE_SCALE_DECIMAL
        {
            let mut t = String::new();
            if render_logical(name, s, v, &mut t) {
                return J::String(t);
            }
        }
    }
    match v {
        Value::Null => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Int8(i) => J::from(*i),
        Value::Int16(i) => J::from(*i),
        Value::Int32(i) => J::from(*i),
        Value::Int64(i) => J::from(*i),
        Value::Float32(f) => serde_json::Number::from_f64(f64::from(*f)).map_or(J::Null, J::Number),
        Value::Float64(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::String(t) => {
            if s.and_then(|s| s.name.as_deref()) == Some(logical::DBZ_JSON) {
                serde_json::from_str(t).unwrap_or_else(|_| J::String(t.clone()))
            } else {
                J::String(t.clone())
            }
        }
        Value::Bytes(b) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Array(items) => {
            let elem = s.and_then(|s| s.value_schema.as_deref());
            J::Array(items.iter().map(|i| to_json(elem, i)).collect())
        }
        Value::Map(entries) => {
            let vs = s.and_then(|s| s.value_schema.as_deref());
            let mut m = serde_json::Map::new();
            for (k, val) in entries {
                let key = match k {
                    Value::String(k) => k.clone(),
                    other => to_json(None, other).to_string(),
                };
                m.insert(key, to_json(vs, val));
            }
            J::Object(m)
        }
        Value::Struct(st) => {
            let mut m = serde_json::Map::new();
            for (f, val) in st.iter() {
                m.insert(f.name.clone(), to_json(Some(&f.schema), val));
            }
            J::Object(m)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn r(s: &Schema, v: Value) -> String {
        let mut out = String::new();
        assert!(render(Some(s), &v, &mut out));
        out
    }

    #[test]
    fn types_from_schemas() {
        let dec = Schema::primitive(SchemaType::Bytes)
            .named(logical::DECIMAL)
            .with_parameter("scale", "2")
            .with_parameter("connect.decimal.precision", "10");
        assert_eq!(pg_type(&dec), "numeric(10,2)");
        let vsd = Schema::primitive(SchemaType::Struct).named(logical::DBZ_VARIABLE_SCALE_DECIMAL);
        assert_eq!(pg_type(&vsd), "numeric");
        let vc = Schema::primitive(SchemaType::String)
            .with_parameter("__debezium.source.column.type", "VARCHAR")
            .with_parameter("__debezium.source.column.length", "20");
        assert_eq!(pg_type(&vc), "varchar(20)");
        let arr = Schema::array(Arc::new(Schema::optional(SchemaType::Int32)));
        assert_eq!(pg_type(&arr), "integer[]");
        assert_eq!(
            pg_type(&Schema::primitive(SchemaType::Int64).named(logical::DBZ_MICRO_TIMESTAMP)),
            "timestamp"
        );
        assert_eq!(pg_type(&Schema::primitive(SchemaType::Int8)), "smallint");
        assert_eq!(
            pg_type(&Schema::primitive(SchemaType::String).named(logical::DBZ_ZONED_TIMESTAMP)),
            "timestamptz"
        );
    }

    #[test]
    fn values_as_text() {
        let dec = Schema::primitive(SchemaType::Bytes)
            .named(logical::DECIMAL)
            .with_parameter("scale", "2");
        assert_eq!(r(&dec, Value::Bytes(vec![0x07, 0xCF])), "19.99");
        let d = Schema::primitive(SchemaType::Int32).named(logical::DBZ_DATE);
        assert_eq!(r(&d, Value::Int32(19723)), "2024-01-01");
        assert_eq!(r(&d, Value::Int32(-719_163)), "0001-12-31 BC");
        let t = Schema::primitive(SchemaType::Int64).named(logical::DBZ_MICRO_TIMESTAMP);
        assert_eq!(
            r(&t, Value::Int64(1_704_067_200_123_456)),
            "2024-01-01 00:00:00.123456"
        );
        let t = Schema::primitive(SchemaType::Int64).named(logical::TIMESTAMP);
        assert_eq!(r(&t, Value::Int64(-1)), "1969-12-31 23:59:59.999000+00");
        let mt = Schema::primitive(SchemaType::Int64).named(logical::DBZ_MICRO_TIME);
        assert_eq!(r(&mt, Value::Int64(3_723_000_001)), "01:02:03.000001");
        let bits = Schema::primitive(SchemaType::Bytes)
            .named(logical::DBZ_BITS)
            .with_parameter("length", "3");
        assert_eq!(r(&bits, Value::Bytes(vec![0b101])), "101");
        let arr = Schema::array(Arc::new(Schema::optional(SchemaType::String)));
        assert_eq!(
            r(
                &arr,
                Value::Array(vec![
                    Value::String("a\"b".into()),
                    Value::Null,
                    Value::String("c\\".into())
                ])
            ),
            r#"{"a\"b",NULL,"c\\"}"#
        );
        assert_eq!(
            r(
                &Schema::primitive(SchemaType::Bytes),
                Value::Bytes(vec![0, 255])
            ),
            "\\x00ff"
        );
        assert_eq!(
            r(
                &Schema::primitive(SchemaType::Float64),
                Value::Float64(f64::NAN)
            ),
            "NaN"
        );
        let mut out = String::new();
        assert!(!render(None, &Value::Null, &mut out));
    }
}
