//! PostgreSQL's binary `COPY` form of the values whose binary form is unambiguous: integers,
//! booleans, floats and text into columns of exactly their type, decimals (Connect Decimals, and
//! strings of the plain `-12.34` form) into `numeric`, and instants into `timestamptz` (wall
//! times into `timestamp`). The server then skips parsing text (a direct `COPY` of the bench's
//! rows took 15 % less of its time in binary form).
//!
//! In: a column's catalog type and the Connect schema of its values ([`encoder`]), then each
//! value ([`Encoder::encode`]). Out: the field (length and bytes) in the COPY data. A shape is
//! written in binary only when every column has an encoder; a value an encoder cannot write
//! (out of range, a string that is not the timestamp form it expects) makes the COPY fail, and
//! the caller writes the rows as text instead (a text COPY), which stores what it always did or reports
//! the problem. Every encoder stores exactly what the text form of the same value stores
//! (`tests/binary_copy.rs` compares them in PostgreSQL).

use bytes::{BufMut, BytesMut};
use walcast_connect_api::logical;
use walcast_connect_api::{Schema, SchemaType, Value};

/// The start of binary COPY data: signature, flags, header extension length.
pub(crate) const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end of binary COPY data: a tuple of field count -1.
pub(crate) const TRAILER: &[u8] = &[0xff, 0xff];

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// What the text form writes as `infinity` / `-infinity` (µs since the Unix epoch; the
/// millisecond values PostgreSQL's JDBC driver uses for them, times 1000).
const POS_INFINITY_US: i64 = 9_223_372_036_825_200_000;
const NEG_INFINITY_US: i64 = -9_223_372_036_832_400_000;

/// How one column's values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoder {
    Int2,
    Int4,
    Int8,
    Bool,
    Float4,
    Float8,
    Text,
    /// A Connect Decimal (unscaled two's-complement bytes and a scale).
    Numeric,
    /// A decimal as a string (`decimal.handling.mode=string`): `-12.34`, digits only.
    NumericText,
    /// A Debezium ZonedTimestamp string (`2024-05-01T10:00:00.123456Z`, or with an offset).
    ZonedTimestamptz,
    /// A Connect Timestamp (ms since the epoch, an instant) into `timestamptz`.
    MillisTimestamptz,
    /// Debezium Timestamp (ms) / MicroTimestamp (µs) wall times into `timestamp`.
    MillisTimestamp,
    MicrosTimestamp,
}

/// The encoder for values of schema `schema` into a column of type `target` (as `format_type`
/// writes it), if their binary form is certain to store what their text form stores.
pub(crate) fn encoder(target: &str, schema: Option<&Schema>) -> Option<Encoder> {
    let s = schema?;
    let base = target.split('(').next().unwrap_or(target);
    let enc = match (s.name.as_deref(), s.kind, base) {
        (None, SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 | SchemaType::Int64, _) => {
            match base {
                "smallint" => Encoder::Int2,
                "integer" => Encoder::Int4,
                "bigint" => Encoder::Int8,
                _ => return None,
            }
        }
        (None, SchemaType::Boolean, "boolean") => Encoder::Bool,
        (None, SchemaType::Float32, "real") => Encoder::Float4,
        (None, SchemaType::Float64, "double precision") => Encoder::Float8,
        (None, SchemaType::String, "text" | "character varying" | "character") => Encoder::Text,
        (Some(logical::DECIMAL), SchemaType::Bytes, "numeric") => Encoder::Numeric,
        (None, SchemaType::String, "numeric") => Encoder::NumericText,
        (Some(logical::DBZ_ZONED_TIMESTAMP), SchemaType::String, "timestamp with time zone") => {
            Encoder::ZonedTimestamptz
        }
        (Some(logical::TIMESTAMP), SchemaType::Int64, "timestamp with time zone") => {
            Encoder::MillisTimestamptz
        }
        (Some(logical::DBZ_TIMESTAMP), SchemaType::Int64, "timestamp without time zone") => {
            Encoder::MillisTimestamp
        }
        (Some(logical::DBZ_MICRO_TIMESTAMP), SchemaType::Int64, "timestamp without time zone") => {
            Encoder::MicrosTimestamp
        }
        _ => return None,
    };
    Some(enc)
}

/// Why a value has no binary form here (the caller writes the rows as text instead).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NoBinaryForm;

impl Encoder {
    /// Appends `v` as one field: its length, then its bytes.
    pub(crate) fn encode(
        self,
        v: &Value,
        schema: &Schema,
        out: &mut BytesMut,
    ) -> Result<(), NoBinaryForm> {
        let int = || v.as_i64().ok_or(NoBinaryForm);
        match self {
            Encoder::Int2 => {
                let i = i16::try_from(int()?).map_err(|_| NoBinaryForm)?;
                out.put_i32(2);
                out.put_i16(i);
            }
            Encoder::Int4 => {
                let i = i32::try_from(int()?).map_err(|_| NoBinaryForm)?;
                out.put_i32(4);
                out.put_i32(i);
            }
            Encoder::Int8 => {
                out.put_i32(8);
                out.put_i64(int()?);
            }
            Encoder::Bool => {
                let Value::Boolean(b) = v else {
                    return Err(NoBinaryForm);
                };
                out.put_i32(1);
                out.put_u8(u8::from(*b));
            }
            Encoder::Float4 => {
                let Value::Float32(f) = v else {
                    return Err(NoBinaryForm);
                };
                out.put_i32(4);
                out.put_f32(*f);
            }
            Encoder::Float8 => {
                let Value::Float64(f) = v else {
                    return Err(NoBinaryForm);
                };
                out.put_i32(8);
                out.put_f64(*f);
            }
            Encoder::Text => {
                let Value::String(t) = v else {
                    return Err(NoBinaryForm);
                };
                let len = i32::try_from(t.len()).map_err(|_| NoBinaryForm)?;
                out.put_i32(len);
                out.put_slice(t.as_bytes());
            }
            Encoder::Numeric => {
                let text = logical::as_decimal_text(schema, v).ok_or(NoBinaryForm)?;
                numeric(&text, out)?;
            }
            // Other spellings PostgreSQL reads (`NaN`, `1e3`, ` 1`, `+1`, `.5`) have no binary
            // form here: their batch goes as text.
            Encoder::NumericText => {
                let Value::String(t) = v else {
                    return Err(NoBinaryForm);
                };
                numeric(t, out)?;
            }
            Encoder::ZonedTimestamptz => {
                let Value::String(t) = v else {
                    return Err(NoBinaryForm);
                };
                timestamp_us(zoned_micros(t).ok_or(NoBinaryForm)?, out)?;
            }
            Encoder::MillisTimestamptz | Encoder::MillisTimestamp => {
                timestamp_us(int()?.checked_mul(1000).ok_or(NoBinaryForm)?, out)?
            }
            Encoder::MicrosTimestamp => timestamp_us(int()?, out)?,
        }
        Ok(())
    }
}

/// A timestamp field from µs since the Unix epoch; the text form's infinity values become
/// PostgreSQL's (the largest and smallest timestamps).
fn timestamp_us(us: i64, out: &mut BytesMut) -> Result<(), NoBinaryForm> {
    let pg = match us {
        POS_INFINITY_US => i64::MAX,
        NEG_INFINITY_US => i64::MIN,
        _ => match us.checked_sub(PG_EPOCH_US) {
            // A finite time may not land on PostgreSQL's infinity values.
            Some(pg) if pg != i64::MAX && pg != i64::MIN => pg,
            _ => return Err(NoBinaryForm),
        },
    };
    out.put_i32(8);
    out.put_i64(pg);
    Ok(())
}

/// µs since the Unix epoch of a ZonedTimestamp string as Debezium writes it:
/// `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM[:SS])`, years 0001–9999. Anything else is `None`.
fn zoned_micros(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        let mut n = 0i64;
        for c in d {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if year < 1 {
        return None;
    }
    // Refuses days, hours, minutes and seconds out of range (no leap second).
    let local_secs = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(year).ok()?,
        u32::try_from(month).ok()?,
        u32::try_from(day).ok()?,
    )?
    .and_hms_opt(
        u32::try_from(hour).ok()?,
        u32::try_from(minute).ok()?,
        u32::try_from(second).ok()?,
    )?
    .and_utc()
    .timestamp();
    let mut i = 19;
    let mut frac_us = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        let digits = end - start;
        if digits == 0 || digits > 6 {
            return None;
        }
        frac_us = num(start..end)? * 10i64.pow(u32::try_from(6 - digits).ok()?);
        i = end;
    }
    let offset_s = match b.get(i)? {
        b'Z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') => {
            let rest = &b[i + 1..];
            let (h, m, s) = match rest.len() {
                5 if rest[2] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?, 0),
                8 if rest[2] == b':' && rest[5] == b':' => {
                    (num(i + 1..i + 3)?, num(i + 4..i + 6)?, num(i + 7..i + 9)?)
                }
                _ => return None,
            };
            if h > 18 || m > 59 || s > 59 {
                return None;
            }
            let o = h * 3600 + m * 60 + s;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    Some((local_secs - offset_s) * 1_000_000 + frac_us)
}

/// A `numeric` field from decimal text (`-12.3400`, `0`, `1200`): base-10000 digit groups,
/// the weight of the first, the sign and the number of digits after the point.
fn numeric(text: &str, out: &mut BytesMut) -> Result<(), NoBinaryForm> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = match unsigned.split_once('.') {
        Some((i, f)) => (i, f),
        None => (unsigned, ""),
    };
    if int_part.is_empty()
        || !int_part.bytes().all(|c| c.is_ascii_digit())
        || !frac_part.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(NoBinaryForm);
    }
    let dscale = u16::try_from(frac_part.len()).map_err(|_| NoBinaryForm)?;
    let int_part = int_part.trim_start_matches('0');
    // Pad the integer digits on the left and the fraction on the right to whole groups of 4.
    let lead = (4 - int_part.len() % 4) % 4;
    let trail = (4 - frac_part.len() % 4) % 4;
    let digits: Vec<u8> = std::iter::repeat_n(b'0', lead)
        .chain(int_part.bytes())
        .chain(frac_part.bytes())
        .chain(std::iter::repeat_n(b'0', trail))
        .collect();
    let mut groups: Vec<i16> = digits
        .chunks(4)
        .map(|g| g.iter().fold(0i16, |n, c| n * 10 + i16::from(c - b'0')))
        .collect();
    let int_groups = (lead + int_part.len()) / 4;
    let mut weight = i64::try_from(int_groups).map_err(|_| NoBinaryForm)? - 1;
    // Leading zero groups move the weight; trailing ones are dropped.
    let first = groups.iter().position(|g| *g != 0).unwrap_or(groups.len());
    groups.drain(..first);
    weight -= i64::try_from(first).map_err(|_| NoBinaryForm)?;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let ndigits = i16::try_from(groups.len()).map_err(|_| NoBinaryForm)?;
    let weight = i16::try_from(weight).map_err(|_| NoBinaryForm)?;
    let len = i32::try_from(8 + 2 * groups.len()).map_err(|_| NoBinaryForm)?;
    out.put_i32(len);
    out.put_i16(ndigits);
    out.put_i16(weight);
    out.put_u16(if negative && !groups.is_empty() {
        0x4000
    } else {
        0
    });
    out.put_u16(dscale);
    for g in groups {
        out.put_i16(g);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn num(t: &str) -> Vec<u8> {
        let mut b = BytesMut::new();
        numeric(t, &mut b).unwrap();
        b.to_vec()
    }

    fn be(vals: &[i16]) -> Vec<u8> {
        vals.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    #[test]
    fn numerics_as_postgresql_sends_them() {
        // length, ndigits, weight, sign, dscale, digits
        let f = |len: i32, h: &[i16]| -> Vec<u8> {
            let mut v = len.to_be_bytes().to_vec();
            v.extend(be(h));
            v
        };
        assert_eq!(num("19.99"), f(12, &[2, 0, 0, 2, 19, 9900]));
        assert_eq!(num("-19.99"), f(12, &[2, 0, 0x4000, 2, 19, 9900]));
        assert_eq!(num("0.005"), f(10, &[1, -1, 0, 3, 50]));
        assert_eq!(num("0.00"), f(8, &[0, 0, 0, 2]));
        assert_eq!(num("0"), f(8, &[0, 0, 0, 0]));
        assert_eq!(num("1200"), f(10, &[1, 0, 0, 0, 1200]));
        assert_eq!(num("12345678.9"), f(14, &[3, 1, 0, 1, 1234, 5678, 9000]));
        assert_eq!(num("10000"), f(10, &[1, 1, 0, 0, 1]));
        assert_eq!(num("-0.0001"), f(10, &[1, -1, 0x4000, 4, 1]));
        assert_eq!(num("0.00000001"), f(10, &[1, -2, 0, 8, 1]));
        let mut b = BytesMut::new();
        assert_eq!(numeric("NaN", &mut b), Err(NoBinaryForm));
        assert_eq!(numeric("1e5", &mut b), Err(NoBinaryForm));
        assert_eq!(numeric("", &mut b), Err(NoBinaryForm));
        for other in ["+1", " 1", "1 ", ".5", "-", "1.2.3", "Infinity", "1,5"] {
            assert_eq!(numeric(other, &mut b), Err(NoBinaryForm), "{other}");
        }
        assert!(b.is_empty());
        let string = Schema::optional(SchemaType::String);
        let enc = encoder("numeric(10,2)", Some(&string)).unwrap();
        assert_eq!(enc, Encoder::NumericText);
        enc.encode(&Value::String("19.99".into()), &string, &mut b)
            .unwrap();
        assert_eq!(&b[..], &num("19.99")[..]);
        assert_eq!(
            enc.encode(&Value::String("NaN".into()), &string, &mut b),
            Err(NoBinaryForm)
        );
    }

    #[test]
    fn zoned_timestamps_to_micros() {
        assert_eq!(zoned_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(zoned_micros("2000-01-01T00:00:00Z"), Some(PG_EPOCH_US));
        assert_eq!(zoned_micros("1970-01-01T00:00:00.5Z"), Some(500_000));
        assert_eq!(zoned_micros("1970-01-01T01:00:00.000001+01:00"), Some(1));
        assert_eq!(zoned_micros("1969-12-31T23:00:00-01:00"), Some(0));
        assert_eq!(zoned_micros("1970-01-01T00:00:30+00:00:30"), Some(0));
        assert_eq!(
            zoned_micros("2024-02-29T12:00:00Z"),
            Some(1_709_208_000_000_000)
        );
        assert_eq!(
            zoned_micros("0001-01-01T00:00:00Z"),
            Some(-62_135_596_800_000_000)
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-01-01T00:00:00.1234567Z",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00Z",
            "+10000-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00Zx",
            "2024-01-01T00:00:00+1:00",
            "infinity",
        ] {
            assert_eq!(zoned_micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn encoders_only_for_exact_pairs() {
        let int32 = Schema::primitive(SchemaType::Int32);
        let string = Schema::primitive(SchemaType::String);
        assert_eq!(encoder("integer", Some(&int32)), Some(Encoder::Int4));
        assert_eq!(encoder("bigint", Some(&int32)), Some(Encoder::Int8));
        assert_eq!(encoder("numeric(10,0)", Some(&int32)), None);
        assert_eq!(encoder("text", Some(&int32)), None);
        assert_eq!(
            encoder("character varying(20)", Some(&string)),
            Some(Encoder::Text)
        );
        assert_eq!(encoder("character(3)", Some(&string)), Some(Encoder::Text));
        assert_eq!(encoder("jsonb", Some(&string)), None);
        assert_eq!(encoder("uuid", Some(&string)), None);
        assert_eq!(encoder("integer", None), None);
        let mut b = BytesMut::new();
        assert_eq!(
            Encoder::Int2.encode(&Value::Int32(40_000), &int32, &mut b),
            Err(NoBinaryForm)
        );
        assert_eq!(
            Encoder::Int4.encode(&Value::String("1".into()), &int32, &mut b),
            Err(NoBinaryForm)
        );
        assert!(b.is_empty());
    }
}
