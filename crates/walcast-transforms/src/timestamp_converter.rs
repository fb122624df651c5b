//! `org.apache.kafka.connect.transforms.TimestampConverter$Value` / `$Key`: convert a
//! timestamp field (or the whole key/value when `field` is empty) between Connect `Timestamp`,
//! `Date`, `Time`, a Unix number (`unix.precision`) and a string in a `SimpleDateFormat`
//! pattern (`format`), always in UTC like Connect.
//!
//! The input type comes from the field's schema (its logical name, `string`, or `int64` for
//! Unix), or, without a schema, from the value (string or integer). The output schema is
//! optional when the input's was. Patterns support the usual `SimpleDateFormat` letters
//! (`G y Y M L d D E u a H k K h m s S z Z X` and quoted literals). One deliberate difference:
//! dates before 1582-10-15 use the proleptic Gregorian calendar; Java switches to the Julian
//! calendar there and shifts them by days.

use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use walcast_connect_api::ConfigKeyDef;
use walcast_connect_api::{logical, Field, Schema, SchemaType, Value};
use walcast_connect_api::{
    ConfigIssue, ConnectRecord, ConnectorConfig, Importance, TransformError, Transformation,
};

use crate::read_config;
use crate::util::{
    kind, map_index, require_map, require_struct, struct_basics, SchemaCache, Target,
};

const PURPOSE: &str = "converting timestamp formats";
const MS_PER_DAY: i64 = 86_400_000;

pub(crate) const KEYS: &[ConfigKeyDef] = &[
    ConfigKeyDef {
        name: "field",
        default: Some(""),
        doc: "The field containing the timestamp, or empty if the entire value is a timestamp.",
        importance: Importance::High,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "target.type",
        required: true,
        valid: &["string", "unix", "Date", "Time", "Timestamp"],
        doc: "The desired timestamp representation: string, unix, Date, Time, or Timestamp.",
        importance: Importance::High,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "format",
        default: Some(""),
        doc: "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when type=string or used to parse the input if the input is a string.",
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "unix.precision",
        default: Some("milliseconds"),
        valid: &["nanoseconds", "microseconds", "milliseconds", "seconds"],
        doc: "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds. Used to generate the output when type=unix or used to parse the input if the input is a Long.",
        importance: Importance::Low,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "replace.null.with.default",
        kind: "BOOLEAN",
        default: Some("true"),
        doc: "Whether to replace fields that have a default value and that are null to the default value.",
        importance: Importance::Low,
        ..ConfigKeyDef::BASE
    },
];

/// The representations a timestamp can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repr {
    String,
    Unix,
    Date,
    Time,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

struct TimestampConverter {
    target: Target,
    field: Option<String>,
    to: Repr,
    format: Option<Pattern>,
    precision: Precision,
    replace_null_with_default: bool,
    cache: SchemaCache,
}

pub(crate) fn build(
    own: &ConnectorConfig,
    target: Target,
) -> Result<Box<dyn Transformation>, Vec<ConfigIssue>> {
    let (values, mut issues) = read_config(own, KEYS)?;
    let to = match values.choice("target.type").as_str() {
        "string" => Repr::String,
        "unix" => Repr::Unix,
        "date" => Repr::Date,
        "time" => Repr::Time,
        _ => Repr::Timestamp,
    };
    let format = match values.opt_string("format") {
        None => None,
        Some(f) => {
            match Pattern::compile(&f) {
                Ok(p) => Some(p),
                Err(e) => {
                    issues.push(ConfigIssue::new(
                    "format",
                    format!("TimestampConverter requires a SimpleDateFormat-compatible pattern: {e}"),
                ));
                    None
                }
            }
        }
    };
    if to == Repr::String && format.is_none() && issues.is_empty() {
        issues.push(ConfigIssue::new(
            "format",
            "TimestampConverter requires format option to be specified when using string timestamps",
        ));
    }
    let precision = match values.choice("unix.precision").as_str() {
        "seconds" => Precision::Seconds,
        "microseconds" => Precision::Micros,
        "nanoseconds" => Precision::Nanos,
        _ => Precision::Millis,
    };
    if !issues.is_empty() {
        return Err(issues);
    }
    Ok(Box::new(TimestampConverter {
        target,
        field: values.opt_string("field"),
        to,
        format,
        precision,
        replace_null_with_default: values.bool("replace.null.with.default"),
        cache: SchemaCache::default(),
    }))
}

/// The input representation of a value with this schema.
fn repr_of_schema(schema: &Schema) -> Result<Repr, TransformError> {
    Ok(match (schema.name.as_deref(), schema.kind) {
        (Some(logical::TIMESTAMP), _) => Repr::Timestamp,
        (Some(logical::DATE), _) => Repr::Date,
        (Some(logical::TIME), _) => Repr::Time,
        (_, SchemaType::String) => Repr::String,
        (_, SchemaType::Int64) => Repr::Unix,
        (_, k) => {
            return Err(TransformError::new(format!(
                "Schema type {} not supported for timestamp conversion (expected a Timestamp, Date, Time, string or int64 field)",
                k.json_name()
            )))
        }
    })
}

/// The output schema of `to`, optional when the input was.
fn schema_of(to: Repr, optional: bool) -> Schema {
    let (kind, name) = match to {
        Repr::String => (SchemaType::String, None),
        Repr::Unix => (SchemaType::Int64, None),
        Repr::Date => (SchemaType::Int32, Some(logical::DATE)),
        Repr::Time => (SchemaType::Int32, Some(logical::TIME)),
        Repr::Timestamp => (SchemaType::Int64, Some(logical::TIMESTAMP)),
    };
    Schema {
        optional,
        name: name.map(str::to_string),
        version: name.map(|_| 1),
        ..Schema::primitive(kind)
    }
}

impl TimestampConverter {
    /// The input value as milliseconds since the epoch.
    fn to_millis(&self, from: Repr, value: &Value) -> Result<i64, TransformError> {
        let bad = || {
            TransformError::new(format!(
                "Expected a {from:?} timestamp for {PURPOSE}, found {}",
                kind(value)
            ))
        };
        match from {
            Repr::Timestamp | Repr::Time => value.as_i64().ok_or_else(bad),
            Repr::Date => Ok(value.as_i64().ok_or_else(bad)? * MS_PER_DAY),
            Repr::Unix => {
                let v = value.as_i64().ok_or_else(bad)?;
                Ok(match self.precision {
                    Precision::Seconds => v.saturating_mul(1000),
                    Precision::Millis => v,
                    Precision::Micros => v / 1000,
                    Precision::Nanos => v / 1_000_000,
                })
            }
            Repr::String => {
                let s = value.as_str().ok_or_else(bad)?;
                let Some(p) = &self.format else {
                    return Err(TransformError::new(
                        "TimestampConverter requires format option to be specified when using string timestamps",
                    ));
                };
                p.parse(s).ok_or_else(|| {
                    TransformError::new(format!(
                        "Could not parse timestamp: value does not match format {}",
                        p.source
                    ))
                })
            }
        }
    }

    fn millis_to_target(&self, ms: i64) -> Result<Value, TransformError> {
        Ok(match self.to {
            Repr::Timestamp => Value::Int64(ms),
            Repr::Date => Value::Int32(
                i32::try_from(ms.div_euclid(MS_PER_DAY))
                    .map_err(|_| TransformError::new("timestamp out of range for a Date"))?,
            ),
            Repr::Time => Value::Int32(ms.rem_euclid(MS_PER_DAY) as i32),
            Repr::Unix => Value::Int64(match self.precision {
                Precision::Seconds => ms / 1000,
                Precision::Millis => ms,
                Precision::Micros => ms.saturating_mul(1000),
                Precision::Nanos => ms.saturating_mul(1_000_000),
            }),
            Repr::String => {
                let p = self.format.as_ref().ok_or_else(|| {
                    TransformError::new("TimestampConverter requires format option to be specified when using string timestamps")
                })?;
                Value::String(
                    p.format(ms).ok_or_else(|| {
                        TransformError::new("timestamp out of range for formatting")
                    })?,
                )
            }
        })
    }

    fn convert(&self, from: Repr, value: &Value) -> Result<Value, TransformError> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        self.millis_to_target(self.to_millis(from, value)?)
    }

    fn schemaless_repr(value: &Value) -> Result<Repr, TransformError> {
        match value {
            Value::String(_) => Ok(Repr::String),
            Value::Int8(_) | Value::Int16(_) | Value::Int32(_) | Value::Int64(_) => Ok(Repr::Unix),
            other => Err(TransformError::new(format!(
                "TimestampConverter does not support {} objects as timestamps",
                kind(other)
            ))),
        }
    }
}

impl Transformation for TimestampConverter {
    fn apply(
        &mut self,
        mut record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, TransformError> {
        let t = self.target;
        if t.value(&record).is_null() {
            return Ok(Some(record));
        }
        let (schema, value) = t.take(&mut record);
        match (schema, &self.field) {
            (None, None) => {
                let out = self.convert(Self::schemaless_repr(&value)?, &value)?;
                t.put(&mut record, None, out);
            }
            (None, Some(field)) => {
                let mut map = require_map(value, t, PURPOSE)?;
                if let Some(i) = map_index(&map, field) {
                    let v = &map[i].1;
                    if !v.is_null() {
                        map[i].1 = self.convert(Self::schemaless_repr(v)?, v)?;
                    }
                }
                t.put(&mut record, None, Value::Map(map));
            }
            (Some(schema), None) => {
                let from = repr_of_schema(&schema)?;
                let out = self.convert(from, &value)?;
                t.put(
                    &mut record,
                    Some(Arc::new(schema_of(self.to, schema.optional))),
                    out,
                );
            }
            (Some(_), Some(field)) => {
                let old = require_struct(value, t, PURPOSE)?;
                let Some((idx, f)) = old.schema.field(field) else {
                    return Err(TransformError::new(format!(
                        "the record's {} has no field {field} to convert",
                        t.name()
                    )));
                };
                let from = repr_of_schema(&f.schema)?;
                let new_schema = match self.cache.get(&[&old.schema]) {
                    Some(hit) => hit,
                    None => {
                        let mut s = struct_basics(&old.schema);
                        s.fields = old.schema.fields.clone();
                        s.fields[idx] =
                            Field::new(field.clone(), schema_of(self.to, f.schema.optional));
                        let s = Arc::new(s);
                        self.cache.put(&[&old.schema], Arc::clone(&s));
                        s
                    }
                };
                let mut values = old.values;
                let mut v = std::mem::replace(&mut values[idx], Value::Null);
                if v.is_null() && self.replace_null_with_default {
                    if let Some(d) = &f.schema.default {
                        v = d.clone();
                    }
                }
                values[idx] = self.convert(from, &v)?;
                t.put_struct(&mut record, new_schema, values);
            }
        }
        Ok(Some(record))
    }
}

/// One piece of a `SimpleDateFormat` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    /// A pattern letter and how many times it repeats.
    Field(char, usize),
}

/// A compiled `SimpleDateFormat` pattern, formatting and parsing in UTC.
#[derive(Debug, Clone)]
struct Pattern {
    source: String,
    tokens: Vec<Token>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl Pattern {
    fn compile(src: &str) -> Result<Pattern, String> {
        let mut tokens = Vec::new();
        let chars: Vec<char> = src.chars().collect();
        let mut i = 0;
        let mut lit = String::new();
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    lit.push('\'');
                    i += 2;
                    continue;
                }
                // A quoted literal, with '' for a quote inside it.
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated quote".into()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            lit.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            lit.push(ch);
                            i += 1;
                        }
                    }
                }
            } else if c.is_ascii_alphabetic() {
                if !"GyYMLdDEuaHkKhmsSzZX".contains(c) {
                    return Err(format!("illegal pattern character '{c}'"));
                }
                let mut n = 1;
                while chars.get(i + n) == Some(&c) {
                    n += 1;
                }
                if !lit.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut lit)));
                }
                tokens.push(Token::Field(c, n));
                i += n;
            } else {
                lit.push(c);
                i += 1;
            }
        }
        if !lit.is_empty() {
            tokens.push(Token::Literal(lit));
        }
        Ok(Pattern {
            source: src.to_string(),
            tokens,
        })
    }

    fn format(&self, ms: i64) -> Option<String> {
        let dt = DateTime::from_timestamp_millis(ms)?.naive_utc();
        let mut out = String::new();
        let num = |out: &mut String, v: i64, n: usize| out.push_str(&format!("{v:0n$}"));
        for t in &self.tokens {
            match t {
                Token::Literal(s) => out.push_str(s),
                Token::Field(c, n) => {
                    let n = *n;
                    match c {
                        'G' => out.push_str(if dt.year() > 0 { "AD" } else { "BC" }),
                        'y' | 'Y' => {
                            let y = i64::from(if dt.year() > 0 {
                                dt.year()
                            } else {
                                1 - dt.year()
                            });
                            if n == 2 {
                                num(&mut out, y % 100, 2)
                            } else {
                                num(&mut out, y, n)
                            }
                        }
                        'M' | 'L' => {
                            let m = dt.month0() as usize;
                            match n {
                                1 | 2 => num(&mut out, m as i64 + 1, n),
                                3 => out.push_str(&MONTHS[m][..3]),
                                _ => out.push_str(MONTHS[m]),
                            }
                        }
                        'd' => num(&mut out, i64::from(dt.day()), n),
                        'D' => num(&mut out, i64::from(dt.ordinal()), n),
                        'E' => {
                            let d = dt.weekday().num_days_from_monday() as usize;
                            if n >= 4 {
                                out.push_str(DAYS[d])
                            } else {
                                out.push_str(&DAYS[d][..3])
                            }
                        }
                        'u' => num(&mut out, i64::from(dt.weekday().number_from_monday()), n),
                        'a' => out.push_str(if dt.hour() < 12 { "AM" } else { "PM" }),
                        'H' => num(&mut out, i64::from(dt.hour()), n),
                        'k' => num(
                            &mut out,
                            i64::from(if dt.hour() == 0 { 24 } else { dt.hour() }),
                            n,
                        ),
                        'K' => num(&mut out, i64::from(dt.hour() % 12), n),
                        'h' => num(
                            &mut out,
                            i64::from(if dt.hour() % 12 == 0 {
                                12
                            } else {
                                dt.hour() % 12
                            }),
                            n,
                        ),
                        'm' => num(&mut out, i64::from(dt.minute()), n),
                        's' => num(&mut out, i64::from(dt.second()), n),
                        'S' => num(&mut out, i64::from(dt.nanosecond() / 1_000_000), n),
                        'z' => out.push_str(if n >= 4 {
                            "Coordinated Universal Time"
                        } else {
                            "UTC"
                        }),
                        'Z' => out.push_str("+0000"),
                        'X' => out.push('Z'),
                        _ => {}
                    }
                }
            }
        }
        Some(out)
    }

    /// Parse `s` (UTC unless it carries an offset); `None` when it does not match.
    fn parse(&self, s: &str) -> Option<i64> {
        let b = s.as_bytes();
        let mut pos = 0;
        let (mut year, mut month, mut day, mut doy) = (1970i64, 1u32, 1u32, None::<u32>);
        let (mut hour, mut minute, mut second, mut milli) = (0u32, 0u32, 0u32, 0i64);
        let mut pm = None::<bool>;
        let mut hour12 = false;
        let mut offset_min = 0i64;
        let mut bc = false;
        let mut two_digit_year = false;
        for (ti, t) in self.tokens.iter().enumerate() {
            match t {
                Token::Literal(l) => {
                    if !s.get(pos..)?.starts_with(l.as_str()) {
                        return None;
                    }
                    pos += l.len();
                }
                Token::Field(c, n) => {
                    let n = *n;
                    // Numbers take as many digits as there are, unless the next token is a
                    // number too (abutting fields): then exactly n.
                    let abut = matches!(self.tokens.get(ti + 1), Some(Token::Field(nc, _)) if "yYMLdDuHkKhmsS".contains(*nc));
                    let number = |pos: &mut usize| -> Option<i64> {
                        let start = *pos;
                        let limit = if abut { start + n } else { b.len() };
                        while *pos < b.len().min(limit) && b[*pos].is_ascii_digit() {
                            *pos += 1;
                        }
                        if *pos == start {
                            return None;
                        }
                        s.get(start..*pos)?.parse().ok()
                    };
                    let text = |pos: &mut usize, names: &[&str], short: bool| -> Option<usize> {
                        let rest = s.get(*pos..)?;
                        // Longest match first (full names before abbreviations).
                        for (i, name) in names.iter().enumerate() {
                            if rest.len() >= name.len()
                                && rest[..name.len()].eq_ignore_ascii_case(name)
                            {
                                *pos += name.len();
                                return Some(i);
                            }
                        }
                        if short {
                            for (i, name) in names.iter().enumerate() {
                                let a = &name[..3];
                                if rest.len() >= 3
                                    && rest.is_char_boundary(3)
                                    && rest[..3].eq_ignore_ascii_case(a)
                                {
                                    *pos += 3;
                                    return Some(i);
                                }
                            }
                        }
                        None
                    };
                    match c {
                        'G' => {
                            let i = text(&mut pos, &["AD", "BC"], false)?;
                            bc = i == 1;
                        }
                        'y' | 'Y' => {
                            let start = pos;
                            year = number(&mut pos)?;
                            two_digit_year = n <= 2 && pos - start == 2;
                        }
                        'M' | 'L' => {
                            month = if n >= 3 {
                                text(&mut pos, &MONTHS, true)? as u32 + 1
                            } else {
                                u32::try_from(number(&mut pos)?).ok()?
                            }
                        }
                        'd' => day = u32::try_from(number(&mut pos)?).ok()?,
                        'D' => doy = Some(u32::try_from(number(&mut pos)?).ok()?),
                        'E' => {
                            text(&mut pos, &DAYS, true)?;
                        }
                        'u' => {
                            number(&mut pos)?;
                        }
                        'a' => pm = Some(text(&mut pos, &["AM", "PM"], false)? == 1),
                        'H' | 'k' => hour = u32::try_from(number(&mut pos)?).ok()? % 24,
                        'K' | 'h' => {
                            hour = u32::try_from(number(&mut pos)?).ok()? % 12;
                            hour12 = true;
                        }
                        'm' => minute = u32::try_from(number(&mut pos)?).ok()?,
                        's' => second = u32::try_from(number(&mut pos)?).ok()?,
                        'S' => milli = number(&mut pos)?,
                        'z' | 'Z' | 'X' => {
                            let rest = s.get(pos..)?;
                            if let Some(r) =
                                ["UTC", "GMT", "Z"].iter().find(|z| rest.starts_with(**z))
                            {
                                pos += r.len();
                            }
                            let rest = s.get(pos..)?;
                            if rest.starts_with('+') || rest.starts_with('-') {
                                let sign = if rest.starts_with('-') { -1 } else { 1 };
                                pos += 1;
                                let digits: String = s
                                    .get(pos..)?
                                    .chars()
                                    .filter(|c| *c != ':')
                                    .take(4)
                                    .collect();
                                let hh: i64 = digits.get(..2)?.parse().ok()?;
                                let mm: i64 =
                                    digits.get(2..4).and_then(|m| m.parse().ok()).unwrap_or(0);
                                let consumed = s
                                    .get(pos..)?
                                    .chars()
                                    .take_while(|c| c.is_ascii_digit() || *c == ':')
                                    .take(5)
                                    .count();
                                pos += consumed;
                                offset_min = sign * (hh * 60 + mm);
                            }
                        }
                        _ => return None,
                    }
                }
            }
        }
        if pos != b.len() && pos > b.len() {
            return None;
        }
        if two_digit_year {
            // SimpleDateFormat: within 80 years before and 20 years after now.
            let now_year = i64::from(
                DateTime::from_timestamp(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0),
                    0,
                )?
                .year(),
            );
            let base = now_year - 80;
            let mut y = base - base.rem_euclid(100) + year;
            if y < base {
                y += 100;
            }
            year = y;
        }
        if bc {
            year = 1 - year;
        }
        if hour12 && pm == Some(true) {
            hour += 12;
        }
        let year = i32::try_from(year).ok()?;
        let date = match doy {
            Some(d) => NaiveDate::from_yo_opt(year, d)?,
            None => NaiveDate::from_ymd_opt(year, month, day)?,
        };
        let dt: NaiveDateTime = date.and_hms_opt(hour, minute, second)?;
        Some(dt.and_utc().timestamp_millis() + milli - offset_min * 60_000)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn formats_like_simple_date_format() {
        let p = Pattern::compile("EEE, dd MMM yyyy HH:mm:ss Z").unwrap();
        assert_eq!(
            p.format(1709214330123).unwrap(),
            "Thu, 29 Feb 2024 13:45:30 +0000"
        );
        let p = Pattern::compile("yy/M/d D a hh:mm").unwrap();
        assert_eq!(p.format(1709164800000).unwrap(), "24/2/29 60 AM 12:00");
        let p = Pattern::compile("yyyy-MM-dd'T'HH:mm:ss.SSS").unwrap();
        assert_eq!(p.format(-500).unwrap(), "1969-12-31T23:59:59.500");
        assert_eq!(p.parse("1969-12-31T23:59:59.500"), Some(-500));
        let p = Pattern::compile("yyyyMMddHHmmss").unwrap();
        assert_eq!(p.parse("20240229134530"), Some(1709214330000));
        let p = Pattern::compile("yyyy-MM-dd HH:mm:ssXXX").unwrap();
        assert_eq!(p.parse("2024-02-29 14:45:30+01:00"), Some(1709214330000));
        assert!(Pattern::compile("yyyy-qq").is_err());
        assert!(Pattern::compile("'abc").is_err());
        assert_eq!(
            Pattern::compile("HH 'o''clock'")
                .unwrap()
                .format(0)
                .unwrap(),
            "00 o'clock"
        );
    }
}
