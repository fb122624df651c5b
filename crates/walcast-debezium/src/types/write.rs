//! Value writers: a column's text value (PostgreSQL's output format, as pgoutput and `COPY ... TO
//! STDOUT` deliver it) converted straight into the JSON `JsonConverter` would write for its
//! [`Repr`], plus the shapes Debezium uses for unchanged TOAST values and for absent values of
//! required columns.
//!
//! In: the text bytes and the column's `Repr`. Out: JSON appended to the caller's buffer, or a
//! [`ValueError`] that says what was wrong without quoting the value. Scalars are handled here;
//! bytea and bit strings, arrays, hstore and geometric types have their own modules.

use base64::Engine as _;

use super::array::write_array;
use super::binary::{write_bits, write_bytea};
use super::geometry::{rerender_geometric, write_point};
use super::hstore::write_hstore;
use super::repr::{ArrayToast, DateRepr, Repr, TimeRepr, TimestampRepr};
use crate::config::{BinaryMode, HstoreMode, IntervalMode};
use crate::error::ValueError;
use crate::json;
use crate::numeric::{self, Special};
use crate::temporal::{self, Moment, MICROS_PER_DAY};

/// Debezium's `PGStatement.DATE_POSITIVE_INFINITY`, the value timestamps `infinity` become.
const TS_POS_INFINITY: i64 = 9_223_372_036_825_200_000;
/// Debezium's `PGStatement.DATE_NEGATIVE_INFINITY`.
const TS_NEG_INFINITY: i64 = -9_223_372_036_832_400_000;

impl Repr {
    /// Appends the JSON of a text value.
    pub fn write(&self, text: &[u8], out: &mut Vec<u8>) -> Result<(), ValueError> {
        match self {
            Repr::Boolean => match text {
                b"t" | b"true" => out.extend_from_slice(b"true"),
                b"f" | b"false" => out.extend_from_slice(b"false"),
                _ => return Err(ValueError::Boolean),
            },
            Repr::Int16 | Repr::Int32 | Repr::Int64 => {
                let digits = text.strip_prefix(b"-").unwrap_or(text);
                if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit)
                {
                    return Err(ValueError::Integer);
                }
                out.extend_from_slice(text);
            }
            Repr::Float32 => json::write_f32(
                out,
                numeric::parse_float::<f32>(text).ok_or(ValueError::Float)?,
            ),
            Repr::Float64 => json::write_f64(
                out,
                numeric::parse_float::<f64>(text).ok_or(ValueError::Float)?,
            ),
            Repr::DecimalBytes { scale, .. } => match numeric::parse(text)? {
                Ok(d) => {
                    out.push(b'"');
                    write_unscaled_base64(&d, *scale as usize, out)?;
                    out.push(b'"');
                }
                // NaN and infinities have no Decimal representation.
                Err(_) => out.extend_from_slice(b"null"),
            },
            Repr::VariableScaleDecimal => match numeric::parse(text)? {
                Ok(d) => {
                    let frac = d.trimmed_frac();
                    let trimmed = numeric::Decimal {
                        negative: d.negative,
                        int_digits: d.int_digits,
                        frac_digits: frac,
                    };
                    out.extend_from_slice(b"{\"scale\":");
                    json::write_u64(out, frac.len() as u64);
                    out.extend_from_slice(b",\"value\":\"");
                    write_unscaled_base64(&trimmed, frac.len(), out)?;
                    out.extend_from_slice(b"\"}");
                }
                Err(_) => out.extend_from_slice(b"null"),
            },
            Repr::DecimalString => match numeric::parse(text)? {
                Ok(_) => json::write_bytes_as_str(out, text),
                Err(Special::NaN) => out.extend_from_slice(b"\"NAN\""),
                Err(Special::PosInfinity) => out.extend_from_slice(b"\"POSITIVE_INFINITY\""),
                Err(Special::NegInfinity) => out.extend_from_slice(b"\"NEGATIVE_INFINITY\""),
            },
            Repr::DecimalDouble => match numeric::parse(text)? {
                Ok(d) => json::write_f64(out, numeric::to_f64(&d)),
                Err(Special::NaN) => json::write_f64(out, f64::NAN),
                Err(Special::PosInfinity) => json::write_f64(out, f64::INFINITY),
                Err(Special::NegInfinity) => json::write_f64(out, f64::NEG_INFINITY),
            },
            Repr::MoneyBytes { scale } => {
                let mut buf = [0u8; 48];
                let d = numeric::parse_money(text, &mut buf)?;
                out.push(b'"');
                write_unscaled_base64(&d, *scale as usize, out)?;
                out.push(b'"');
            }
            Repr::MoneyString { scale } => {
                let mut buf = [0u8; 48];
                let d = numeric::parse_money(text, &mut buf)?;
                out.push(b'"');
                numeric::write_plain_with_scale(&d, *scale as usize, out);
                out.push(b'"');
            }
            Repr::MoneyDouble => {
                let mut buf = [0u8; 48];
                let d = numeric::parse_money(text, &mut buf)?;
                json::write_f64(out, numeric::to_f64(&d));
            }
            Repr::Text { .. } => json::write_bytes_as_str(out, text),
            Repr::Bytea(mode) => write_bytea(text, *mode, out)?,
            Repr::Bit => match text {
                b"1" => out.extend_from_slice(b"true"),
                b"0" => out.extend_from_slice(b"false"),
                _ => return Err(ValueError::Bits),
            },
            Repr::Bits { .. } => write_bits(text, out)?,
            Repr::Date(r) => {
                let days = match temporal::parse_date(text)? {
                    Moment::Finite(d) => d.clamp(i64::from(i32::MIN), i64::from(i32::MAX)),
                    // No int32 day count means "infinity"; Debezium's two paths disagree on
                    // arbitrary values, walcast saturates (see tests/fixtures/types_time/NOTES.md).
                    Moment::PosInfinity => i64::from(i32::MAX),
                    Moment::NegInfinity => i64::from(i32::MIN),
                };
                match r {
                    DateRepr::Iso => {
                        out.push(b'"');
                        temporal::write_iso_date(out, days);
                        out.extend_from_slice(b"Z\"");
                    }
                    _ => json::write_i64(out, days),
                }
            }
            Repr::Time(r) => {
                let micros = temporal::parse_time(text)?;
                match r {
                    TimeRepr::Millis | TimeRepr::ConnectMillis => {
                        json::write_i64(out, micros.div_euclid(1000))
                    }
                    TimeRepr::Micros => json::write_i64(out, micros),
                    TimeRepr::Nanos => json::write_i64(out, micros * 1000),
                    // `java.time.LocalTime` cannot hold 24:00 and wraps it to midnight.
                    TimeRepr::Iso => {
                        out.push(b'"');
                        temporal::write_iso_time(out, micros % MICROS_PER_DAY, None);
                        out.extend_from_slice(b"Z\"");
                    }
                }
            }
            Repr::ZonedTime => {
                let (micros, offset) = temporal::parse_timetz(text)?;
                // Java's OffsetTime cannot hold 24:00, so Debezium wraps it to midnight; kept
                // for compatibility (the correct text would not parse in java.time).
                let utc = (micros - offset * 1_000_000).rem_euclid(MICROS_PER_DAY);
                out.push(b'"');
                temporal::write_iso_time(out, utc, None);
                out.extend_from_slice(b"Z\"");
            }
            Repr::Timestamp(r) => match temporal::parse_timestamp(text)? {
                Moment::Finite(us) => match r {
                    TimestampRepr::Millis | TimestampRepr::ConnectMillis => {
                        json::write_i64(out, us.div_euclid(1000))
                    }
                    TimestampRepr::Micros => json::write_i64(out, us),
                    // Nanoseconds before 1677 or after 2262 overflow int64; Debezium emits null.
                    TimestampRepr::Nanos => match us.checked_mul(1000) {
                        Some(ns) => json::write_i64(out, ns),
                        None => out.extend_from_slice(b"null"),
                    },
                    TimestampRepr::Iso => {
                        out.push(b'"');
                        temporal::write_iso_datetime(out, us, None);
                        out.extend_from_slice(b"Z\"");
                    }
                },
                m => {
                    let v = if m == Moment::PosInfinity {
                        TS_POS_INFINITY
                    } else {
                        TS_NEG_INFINITY
                    };
                    match r {
                        TimestampRepr::Millis | TimestampRepr::ConnectMillis => {
                            json::write_i64(out, v / 1000)
                        }
                        TimestampRepr::Micros => json::write_i64(out, v),
                        TimestampRepr::Nanos => json::write_i64(
                            out,
                            if m == Moment::PosInfinity {
                                i64::MAX
                            } else {
                                i64::MIN
                            },
                        ),
                        TimestampRepr::Iso => {
                            out.push(b'"');
                            temporal::write_iso_datetime(out, v, None);
                            out.extend_from_slice(b"Z\"");
                        }
                    }
                }
            },
            Repr::ZonedTimestamp { digits } => match temporal::parse_timestamptz(text)? {
                Moment::Finite(us) => {
                    out.push(b'"');
                    temporal::write_iso_datetime(out, us, Some(*digits));
                    out.extend_from_slice(b"Z\"");
                }
                Moment::PosInfinity => out.extend_from_slice(b"\"infinity\""),
                Moment::NegInfinity => out.extend_from_slice(b"\"-infinity\""),
            },
            Repr::Interval(mode) => {
                let iv = temporal::parse_interval(text)?;
                match mode {
                    IntervalMode::Numeric => json::write_i64(out, iv.micro_duration()),
                    IntervalMode::String => {
                        out.push(b'"');
                        temporal::write_iso_interval(out, &iv);
                        out.push(b'"');
                    }
                }
            }
            Repr::Hstore(mode) => write_hstore(text, *mode, out)?,
            Repr::Point => write_point(text, out)?,
            Repr::Unknown { geometric } => {
                if *geometric {
                    let mut tmp = Vec::with_capacity(text.len() + 16);
                    rerender_geometric(text, &mut tmp);
                    json::write_base64(out, &tmp);
                } else {
                    json::write_base64(out, text);
                }
            }
            Repr::Array {
                element,
                required_items,
                ..
            } => write_array(text, element, *required_items, out)?,
        }
        Ok(())
    }

    /// Appends what an unchanged TOAST value becomes in this representation (Debezium's
    /// `unavailable.value.placeholder` shapes), or `null` where Debezium has none.
    pub fn write_placeholder(&self, placeholder: &str, out: &mut Vec<u8>) {
        match self {
            Repr::Text { .. } | Repr::DecimalString | Repr::Interval(IntervalMode::String) => {
                json::write_str(out, placeholder)
            }
            Repr::ZonedTimestamp { .. } | Repr::ZonedTime => json::write_str(out, placeholder),
            Repr::Bytea(BinaryMode::Bytes) | Repr::Unknown { .. } => {
                json::write_base64(out, placeholder.as_bytes())
            }
            Repr::Bytea(BinaryMode::Hex) => json::write_str(out, placeholder),
            Repr::Hstore(HstoreMode::Json) => {
                let mut tmp = Vec::with_capacity(placeholder.len() * 2 + 8);
                tmp.push(b'{');
                json::write_key(&mut tmp, placeholder);
                json::write_str(&mut tmp, placeholder);
                tmp.push(b'}');
                json::write_bytes_as_str(out, &tmp);
            }
            Repr::Hstore(HstoreMode::Map) => {
                out.push(b'{');
                json::write_key(out, placeholder);
                json::write_str(out, placeholder);
                out.push(b'}');
            }
            Repr::Array { toast, .. } => match toast {
                ArrayToast::TextList => {
                    out.push(b'[');
                    json::write_str(out, placeholder);
                    out.push(b']');
                }
                ArrayToast::ByteNumbers => {
                    out.push(b'[');
                    for (i, b) in placeholder.bytes().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        // Java bytes are signed.
                        json::write_i64(out, i64::from(b as i8));
                    }
                    out.push(b']');
                }
                ArrayToast::Null => out.extend_from_slice(b"null"),
            },
            _ => out.extend_from_slice(b"null"),
        }
    }

    /// Appends the value Debezium uses for a required (NOT NULL) column whose value is absent,
    /// e.g. a non-key column in the old row of a DELETE under REPLICA IDENTITY DEFAULT.
    pub fn write_fallback(&self, out: &mut Vec<u8>) {
        let s: &[u8] = match self {
            Repr::Boolean | Repr::Bit => b"false",
            Repr::Int16 | Repr::Int32 | Repr::Int64 => b"0",
            Repr::Float32 | Repr::Float64 | Repr::DecimalDouble | Repr::MoneyDouble => b"0.0",
            Repr::DecimalBytes { .. } | Repr::MoneyBytes { .. } => b"\"AA==\"",
            Repr::VariableScaleDecimal => b"{\"scale\":0,\"value\":\"AA==\"}",
            Repr::DecimalString => b"\"0\"",
            Repr::MoneyString { .. } => b"\"0\"",
            Repr::Text { .. } | Repr::Bytea(_) | Repr::Bits { .. } | Repr::Unknown { .. } => {
                b"\"\""
            }
            Repr::Date(DateRepr::Iso) => b"\"1970-01-01Z\"",
            Repr::Date(_) => b"0",
            Repr::Time(TimeRepr::Iso) => b"\"00:00:00Z\"",
            Repr::Time(_) => b"0",
            Repr::ZonedTime => b"\"00:00:00Z\"",
            Repr::Timestamp(TimestampRepr::Iso) => b"\"1970-01-01T00:00:00Z\"",
            Repr::Timestamp(_) => b"0",
            Repr::ZonedTimestamp { .. } => b"\"1970-01-01T00:00:00Z\"",
            Repr::Interval(IntervalMode::Numeric) => b"0",
            Repr::Interval(IntervalMode::String) => b"\"P0Y0M0DT0H0M0S\"",
            Repr::Hstore(HstoreMode::Json) => b"\"{}\"",
            Repr::Hstore(HstoreMode::Map) => b"{}",
            Repr::Array { .. } => b"[]",
            Repr::Point => {
                b"{\"x\":0.0,\"y\":0.0,\"wkb\":\"AQEAAAAAAAAAAAAAAAAAAAAAAAAA\",\"srid\":null}"
            }
        };
        out.extend_from_slice(s);
    }
}

/// Base64 of the unscaled two's-complement bytes, without allocating for values up to 38 digits.
fn write_unscaled_base64(
    d: &numeric::Decimal<'_>,
    scale: usize,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    // Encode into a temporary tail of `out`, then base64 it in place after it.
    let start = out.len();
    numeric::unscaled_bytes(d, scale, out)?;
    let raw_len = out.len() - start;
    let mut raw = [0u8; 32];
    if raw_len <= raw.len() {
        raw[..raw_len].copy_from_slice(&out[start..]);
        out.truncate(start);
        base64_into(out, &raw[..raw_len]);
    } else {
        let raw: Vec<u8> = out[start..].to_vec();
        out.truncate(start);
        base64_into(out, &raw);
    }
    Ok(())
}

/// Appends unquoted standard base64.
fn base64_into(out: &mut Vec<u8>, data: &[u8]) {
    let start = out.len();
    let len = base64::encoded_len(data.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let n = base64::engine::general_purpose::STANDARD
        .encode_slice(data, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + n);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use walcast_pgoutput::PgType;

    use crate::types::repr::repr_of;
    use crate::types::testing::{arr, base, cfg, conv, numeric_typmod_of};

    #[test]
    fn numerics_precise() {
        let c = cfg(&[]);
        let n = base("numeric");
        assert_eq!(conv(&n, -1, &c, "123.456"), r#"{"scale":3,"value":"AeJA"}"#);
        assert_eq!(conv(&n, -1, &c, "0.000"), r#"{"scale":0,"value":"AA=="}"#);
        assert_eq!(
            conv(&n, -1, &c, "-123.4500"),
            r#"{"scale":2,"value":"z8c="}"#
        );
        assert_eq!(conv(&n, -1, &c, "NaN"), "null");
        assert_eq!(
            conv(&n, numeric_typmod_of(10, 2), &c, "12345678.91"),
            r#""SZYC0w==""#
        );
        assert_eq!(conv(&base("money"), -1, &c, "$12.34"), r#""BNI=""#);
        assert_eq!(conv(&base("money"), -1, &c, "$1,000.00"), r#""AYag""#);
        assert_eq!(conv(&arr(n.clone()), -1, &c, "{NaN,Infinity}"), "null");
        assert_eq!(
            conv(
                &arr(n.clone()),
                numeric_typmod_of(6, 2),
                &c,
                "{1.50,NULL,-3.00}"
            ),
            r#"["AJY=",null,"/tQ="]"#
        );
        let s = repr_of(&n, numeric_typmod_of(10, 2), &c)
            .unwrap()
            .schema(true);
        assert_eq!(
            String::from_utf8(s.to_json()).unwrap(),
            r#"{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"}}"#
        );
    }

    #[test]
    fn numerics_string_and_double() {
        let s = cfg(&[("decimal.handling.mode", "string")]);
        let n = base("numeric");
        assert_eq!(conv(&n, -1, &s, "-123.4500"), r#""-123.4500""#);
        assert_eq!(conv(&n, -1, &s, "NaN"), r#""NAN""#);
        assert_eq!(conv(&n, -1, &s, "Infinity"), r#""POSITIVE_INFINITY""#);
        assert_eq!(conv(&n, -1, &s, "-Infinity"), r#""NEGATIVE_INFINITY""#);
        assert_eq!(conv(&base("money"), -1, &s, "$1,000.00"), r#""1000.00""#);
        assert_eq!(conv(&arr(n.clone()), -1, &s, "{NaN}"), "null");
        let d = cfg(&[("decimal.handling.mode", "double")]);
        assert_eq!(conv(&n, -1, &d, "12345678.91"), "1.234567891E7");
        assert_eq!(conv(&n, -1, &d, "NaN"), r#""NaN""#);
        assert_eq!(
            conv(&base("money"), -1, &d, "-$92,233,720,368,547,758.08"),
            "-9.223372036854776E16"
        );
    }

    #[test]
    fn scalars() {
        let c = cfg(&[]);
        assert_eq!(conv(&base("bool"), -1, &c, "t"), "true");
        assert_eq!(
            conv(&base("int8"), -1, &c, "-9223372036854775808"),
            "-9223372036854775808"
        );
        assert_eq!(
            conv(&base("float4"), -1, &c, "-3.4028235e+38"),
            "-3.4028235E38"
        );
        assert_eq!(conv(&base("float8"), -1, &c, "1e-07"), "1.0E-7");
        assert_eq!(conv(&base("float8"), -1, &c, "Infinity"), r#""Infinity""#);
        assert_eq!(conv(&base("text"), -1, &c, "a\"b"), r#""a\"b""#);
        let u = cfg(&[("include.unknown.datatypes", "true")]);
        assert_eq!(conv(&base("pg_lsn"), -1, &u, "0/0"), r#""MC8w""#);
    }

    #[test]
    fn temporal_adaptive_and_connect() {
        let c = cfg(&[]);
        assert_eq!(conv(&base("time"), 3, &c, "13:45:30.123"), "49530123");
        assert_eq!(
            conv(&base("time"), -1, &c, "13:45:30.123456"),
            "49530123456"
        );
        assert_eq!(
            conv(&base("timetz"), -1, &c, "06:07:08.000009+14"),
            r#""16:07:08.000009Z""#
        );
        assert_eq!(
            conv(&base("timetz"), -1, &c, "24:00:00+00"),
            r#""00:00:00Z""#
        );
        assert_eq!(
            conv(&base("timestamp"), 0, &c, "1969-12-31 23:59:59"),
            "-1000"
        );
        assert_eq!(
            conv(&base("timestamp"), -1, &c, "infinity"),
            "9223372036825200000"
        );
        assert_eq!(
            conv(&base("timestamp"), 3, &c, "-infinity"),
            "-9223372036832400"
        );
        assert_eq!(
            conv(&base("timestamptz"), -1, &c, "1969-12-31 23:59:59.999+00"),
            r#""1969-12-31T23:59:59.999000Z""#
        );
        assert_eq!(
            conv(&base("timestamptz"), 0, &c, "2024-02-29 13:45:30+02"),
            r#""2024-02-29T11:45:30Z""#
        );
        assert_eq!(
            conv(&base("timestamptz"), -1, &c, "infinity"),
            r#""infinity""#
        );
        assert_eq!(
            conv(&base("timestamptz"), -1, &c, "0044-03-15 12:00:00.5+00 BC"),
            r#""-0043-03-15T12:00:00.500000Z""#
        );
        assert_eq!(conv(&base("date"), -1, &c, "0044-03-15 BC"), "-735160");
        assert_eq!(
            conv(
                &base("interval"),
                -1,
                &c,
                "1 year 2 mons 3 days 04:05:06.789"
            ),
            "37091106789000"
        );
        let k = cfg(&[("time.precision.mode", "connect")]);
        assert_eq!(conv(&base("time"), -1, &k, "23:59:59.999999"), "86399999");
        assert_eq!(
            conv(&base("timestamp"), -1, &k, "0001-01-01 00:00:00.000001"),
            "-62135596800000"
        );
        let s = cfg(&[("interval.handling.mode", "string")]);
        assert_eq!(
            conv(
                &base("interval"),
                -1,
                &s,
                "-1 years -2 mons +3 days -04:05:06.5"
            ),
            r#""P-1Y-2M3DT-4H-5M-6.5S""#
        );
        assert_eq!(
            conv(&base("interval"), -1, &s, "-00:00:00.5"),
            r#""P0Y0M0DT0H0M-0.5S""#
        );
        assert_eq!(
            conv(&base("interval"), -1, &s, "00:00:00.000001"),
            r#""P0Y0M0DT0H0M0.000001S""#
        );
    }

    #[test]
    fn placeholders() {
        let c = cfg(&[]);
        let ph = "__debezium_unavailable_value";
        let p = |ty: &PgType| {
            let mut o = Vec::new();
            repr_of(ty, -1, &c).unwrap().write_placeholder(ph, &mut o);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(p(&base("text")), format!("\"{ph}\""));
        assert_eq!(
            p(&base("bytea")),
            "\"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\""
        );
        assert_eq!(p(&arr(base("text"))), format!("[\"{ph}\"]"));
        assert!(p(&arr(base("int4"))).starts_with("[95,95,100,101,98,"));
        let mut h = base("hstore");
        h.schema = "public".into();
        assert_eq!(p(&h), format!("\"{{\\\"{ph}\\\":\\\"{ph}\\\"}}\""));
    }

    proptest::proptest! {
        #[test]
        fn converters_never_panic(s in proptest::collection::vec(proptest::num::u8::ANY, 0..48)) {
            let c = cfg(&[("include.unknown.datatypes", "true")]);
            for name in ["bool", "int4", "float4", "float8", "numeric", "money", "bytea", "bit", "varbit",
                         "date", "time", "timetz", "timestamp", "timestamptz", "interval", "point", "line", "text"] {
                for typmod in [-1, 3, 0x0006_0006] {
                    let ty = base(name);
                    if let Some(r) = repr_of(&ty, typmod, &c) {
                        let _ = r.write(&s, &mut Vec::new());
                        let _ = repr_of(&arr(ty.clone()), typmod, &c).map(|a| a.write(&s, &mut Vec::new()));
                    }
                }
            }
            let mut h = base("hstore");
            h.schema = "public".into();
            let _ = repr_of(&h, -1, &c).unwrap().write(&s, &mut Vec::new());
        }

    }
}
