//! Column defaults in field schemas (`"default": ...`), derived from `pg_get_expr(adbin)` the way
//! Debezium's `PostgresDefaultValueConverter` does it, quirks included: only some types get a
//! default, a function call (or `CURRENT_TIMESTAMP` and friends) becomes a fixed placeholder
//! (`0`, `1970-01-01`, the nil UUID...), and defaults that do not fit the column's Connect schema
//! (a numeric default with more fraction digits than the column's scale, a struct) are dropped.
//!
//! The default matters beyond the schema: Kafka Connect's `JsonConverter` writes the default in
//! place of a null value, so it also shows up in payloads.

use std::sync::OnceLock;

use regex::Regex;
use walcast_pgoutput::{ColumnSchema, PgTypeKind};

use super::repr::Repr;
use crate::numeric;

fn function_pattern() -> Option<&'static Regex> {
    static P: OnceLock<Option<Regex>> = OnceLock::new();
    P.get_or_init(|| Regex::new(r"^\(?[A-Za-z0-9_.]+\((?:.+(?:, ?.+)*)?\)").ok())
        .as_ref()
}

fn literal_pattern() -> Option<&'static Regex> {
    static P: OnceLock<Option<Regex>> = OnceLock::new();
    P.get_or_init(|| Regex::new(r"'([^']*(?:''[^']*)*)'").ok())
        .as_ref()
}

const CURRENT_DATE_TIMES: [&str; 5] = [
    "current_timestamp",
    "current_time",
    "current_date",
    "localtime",
    "localtimestamp",
];

/// Types whose default expression is trimmed before it is read.
const TRIM_TYPES: [&str; 18] = [
    "bit",
    "varbit",
    "bool",
    "numeric",
    "float4",
    "float8",
    "int2",
    "int4",
    "serial",
    "int8",
    "bigserial",
    "smallserial",
    "uuid",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "interval",
];

/// The literal of a default expression: `'x'::text` -> `x` (with `''` unescaped), a bare value
/// as is, `NULL::type` -> none.
fn extract_literal(expr: &str) -> Option<String> {
    if !expr.contains('\'') {
        return (!expr.starts_with("NULL::")).then(|| expr.to_string());
    }
    let caps = literal_pattern()?.captures(expr)?;
    Some(caps.get(1)?.as_str().replace("''", "'"))
}

/// Like [`extract_literal`], but a function call or a `CURRENT_*` keyword becomes
/// `placeholder`.
fn extract(expr: &str, placeholder: &str) -> Option<String> {
    let is_function = function_pattern().is_some_and(|p| p.is_match(expr));
    if is_function || CURRENT_DATE_TIMES.contains(&expr.to_ascii_lowercase().as_str()) {
        return Some(placeholder.to_string());
    }
    extract_literal(expr)
}

/// `'label'::typename` -> `label` when the cast names the enum type.
fn extract_enum(type_name: &str, expr: &str) -> Option<String> {
    let cut = expr.rfind("::")?;
    let cast = expr[cut + 2..].trim().trim_matches('"');
    let cast_name = cast.rsplit('.').next().unwrap_or(cast).trim_matches('"');
    if cast_name != type_name {
        return None;
    }
    let lit = expr[..cut].trim();
    let inner = lit.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

/// Renders Debezium's default value for a column as JSON in the column's representation, or
/// `None` when Debezium would not put a default in the schema.
pub fn default_json(col: &ColumnSchema, repr: &Repr, expr: &str) -> Option<Vec<u8>> {
    let ty = &col.pg_type;
    if let PgTypeKind::Enum { .. } = ty.kind {
        let label = extract_enum(&ty.name, expr.trim())?;
        return render(repr, label.as_bytes());
    }
    if !matches!(ty.kind, PgTypeKind::Base) {
        return None;
    }
    let name = ty.name.as_str();
    let expr = if TRIM_TYPES.contains(&name) {
        expr.trim()
    } else {
        expr
    };
    if expr.starts_with("NULL::") {
        return None;
    }
    match name {
        "bit" | "varbit" => {
            let bits = extract(expr, if name == "bit" { "00" } else { "0" })?;
            match repr {
                Repr::Bit => render(repr, if bits == "1" { b"1" } else { b"0" }),
                _ => render(repr, bits.as_bytes()),
            }
        }
        "bool" => {
            let v = extract(expr, "false")?;
            render(
                repr,
                if v.eq_ignore_ascii_case("true") {
                    b"t"
                } else {
                    b"f"
                },
            )
        }
        "bpchar" | "varchar" | "text" | "xml" => render(repr, extract(expr, "")?.as_bytes()),
        "json" | "jsonb" => render(repr, extract(expr, "{}")?.as_bytes()),
        "uuid" => {
            let v = extract(expr, "00000000-0000-0000-0000-000000000000")?.to_ascii_lowercase();
            let ok = v.len() == 36
                && v.bytes().enumerate().all(|(i, c)| {
                    matches!(i, 8 | 13 | 18 | 23) == (c == b'-')
                        && (c == b'-' || c.is_ascii_hexdigit())
                });
            ok.then(|| render(repr, v.as_bytes())).flatten()
        }
        "int2" => render_int::<i16>(repr, &extract(expr, "0")?),
        "int4" | "serial" => render_int::<i32>(repr, &extract(expr, "0")?),
        "int8" | "bigserial" => render_int::<i64>(repr, &extract(expr, "0")?),
        "float4" | "float8" => {
            let v = extract(expr, "0.0")?;
            let v = v.trim();
            // Java's parser is stricter about words than Rust's: only these spellings.
            let normalized = match v {
                "NaN" => "NaN".to_string(),
                "Infinity" | "+Infinity" => "Infinity".to_string(),
                "-Infinity" => "-Infinity".to_string(),
                _ => {
                    let f: f64 = v.parse().ok().filter(|f: &f64| f.is_finite())?;
                    if !v
                        .bytes()
                        .all(|c| c.is_ascii_digit() || b"+-.eE".contains(&c))
                    {
                        return None;
                    }
                    format!("{f:e}")
                }
            };
            render(repr, normalized.as_bytes())
        }
        "numeric" => {
            let v = extract(expr, "0.0")?;
            let d = match numeric::parse(v.trim().as_bytes()).ok()? {
                Ok(d) => d,
                Err(_) => return None,
            };
            match repr {
                Repr::DecimalBytes { scale, .. } => {
                    if d.frac_digits.len() > *scale as usize {
                        return None;
                    }
                    render(repr, v.trim().as_bytes())
                }
                // A struct cannot be a Connect default (KAFKA-12694); Debezium drops it.
                Repr::VariableScaleDecimal => None,
                Repr::DecimalString => {
                    let scale = match &col.type_modifier {
                        t if *t >= 4 => ((*t - 4) & 0x7ff) as usize,
                        _ => d.frac_digits.len(),
                    };
                    if d.frac_digits.len() > scale {
                        return None;
                    }
                    let mut out = vec![b'"'];
                    numeric::write_plain_with_scale(&d, scale, &mut out);
                    out.push(b'"');
                    Some(out)
                }
                _ => render(repr, v.trim().as_bytes()),
            }
        }
        "date" => {
            let v = extract(expr, "1970-01-01")?;
            render(repr, v.as_bytes())
        }
        "time" => {
            let v = extract(expr, "00:00")?;
            let v = if v.len() == 5 { format!("{v}:00") } else { v };
            render(repr, v.as_bytes())
        }
        "timestamp" => {
            let v = extract(expr, "1970-01-01")?;
            let v = if v.contains(' ') {
                v
            } else {
                format!("{v} 00:00:00")
            };
            render(repr, v.as_bytes())
        }
        "timestamptz" => {
            let v = extract(expr, "1970-01-01")?;
            let v = if v.contains(' ') {
                v
            } else {
                format!("{v} 00:00:00")
            };
            // Without an offset PgJDBC reads the value in the JVM's zone; walcast assumes UTC.
            let has_offset = v
                .rsplit(' ')
                .next()
                .is_some_and(|t| t.len() > 8 && (t[8..].contains('+') || t[8..].contains('-')));
            let v = if has_offset || v.ends_with(" BC") {
                v
            } else {
                format!("{v}+00")
            };
            render(repr, v.as_bytes())
        }
        "interval" => {
            let v = extract(expr, "epoch")?;
            render(repr, v.as_bytes())
        }
        _ => None,
    }
}

fn render_int<T: std::str::FromStr + ToString>(repr: &Repr, v: &str) -> Option<Vec<u8>> {
    let v = v.trim();
    let n: T = v.strip_prefix('+').unwrap_or(v).parse().ok()?;
    render(repr, n.to_string().as_bytes())
}

fn render(repr: &Repr, text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    repr.write(text, &mut out).ok()?;
    (out != b"null").then_some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use walcast_pgoutput::PgType;

    use crate::types::repr::repr_of;
    use crate::types::testing::cfg;

    fn col(type_name: &str, typmod: i32, kind: PgTypeKind) -> ColumnSchema {
        ColumnSchema {
            name: "c".into(),
            attnum: 1,
            pg_type: PgType {
                oid: 0,
                schema: "pg_catalog".into(),
                name: type_name.into(),
                kind,
            },
            type_modifier: typmod,
            nullable: true,
            default_expr: None,
            primary_key_position: None,
        }
    }

    fn dflt(type_name: &str, typmod: i32, expr: &str, props: &[(&str, &str)]) -> Option<String> {
        let c = col(type_name, typmod, PgTypeKind::Base);
        let repr = repr_of(&c.pg_type, typmod, &cfg(props)).unwrap();
        default_json(&c, &repr, expr).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn defaults_match_types_other_fixture() {
        let num = ((10 << 16) | 2) + 4;
        assert_eq!(
            dflt("int4", -1, "nextval('defaults_id_seq'::regclass)", &[]).as_deref(),
            Some("0")
        );
        assert_eq!(dflt("int4", -1, "42", &[]).as_deref(), Some("42"));
        assert_eq!(
            dflt("int4", -1, "'-7'::integer", &[]).as_deref(),
            Some("-7")
        );
        assert_eq!(
            dflt("int8", -1, "'9223372036854775807'::bigint", &[]).as_deref(),
            Some("9223372036854775807")
        );
        assert_eq!(dflt("int4", -1, "(1 + 2)", &[]), None);
        assert_eq!(dflt("bool", -1, "true", &[]).as_deref(), Some("true"));
        assert_eq!(
            dflt("text", -1, "'it''s'::text", &[]).as_deref(),
            Some("\"it's\"")
        );
        assert_eq!(
            dflt("bpchar", 8, "'ab'::bpchar", &[]).as_deref(),
            Some("\"ab\"")
        );
        assert_eq!(
            dflt("numeric", num, "1.50", &[]).as_deref(),
            Some("\"AJY=\"")
        );
        assert_eq!(dflt("numeric", num, "'-12.345'::numeric", &[]), None);
        assert_eq!(dflt("numeric", -1, "3.14159", &[]), None);
        assert_eq!(
            dflt(
                "numeric",
                num,
                "1.50",
                &[("decimal.handling.mode", "string")]
            )
            .as_deref(),
            Some("\"1.50\"")
        );
        assert_eq!(
            dflt(
                "numeric",
                num,
                "1.50",
                &[("decimal.handling.mode", "double")]
            )
            .as_deref(),
            Some("1.5")
        );
        assert_eq!(
            dflt("float8", -1, "'NaN'::double precision", &[]).as_deref(),
            Some("\"NaN\"")
        );
        assert_eq!(dflt("float4", -1, "1.5", &[]).as_deref(), Some("1.5"));
        assert_eq!(dflt("money", -1, "10.25", &[]), None);
        assert_eq!(
            dflt("date", -1, "'2020-01-01'::date", &[]).as_deref(),
            Some("18262")
        );
        assert_eq!(dflt("date", -1, "CURRENT_DATE", &[]).as_deref(), Some("0"));
        assert_eq!(
            dflt("time", -1, "'12:34:56'::time without time zone", &[]).as_deref(),
            Some("45296000000")
        );
        assert_eq!(
            dflt("time", 3, "'12:34:56.789'::time without time zone", &[]).as_deref(),
            Some("45296789")
        );
        assert_eq!(
            dflt("timetz", -1, "'12:34:56+02'::time with time zone", &[]),
            None
        );
        assert_eq!(
            dflt(
                "timestamp",
                -1,
                "'2020-01-01 10:00:00.123456'::timestamp without time zone",
                &[]
            )
            .as_deref(),
            Some("1577872800123456")
        );
        assert_eq!(dflt("timestamp", -1, "now()", &[]).as_deref(), Some("0"));
        assert_eq!(
            dflt(
                "timestamptz",
                -1,
                "'2020-01-01 00:00:00+00'::timestamp with time zone",
                &[]
            )
            .as_deref(),
            Some("\"2020-01-01T00:00:00.000000Z\"")
        );
        assert_eq!(
            dflt("timestamptz", -1, "CURRENT_TIMESTAMP", &[]).as_deref(),
            Some("\"1970-01-01T00:00:00.000000Z\"")
        );
        assert_eq!(
            dflt("interval", -1, "'1 day 02:00:00'::interval", &[]).as_deref(),
            Some("93600000000")
        );
        assert_eq!(
            dflt(
                "interval",
                -1,
                "'1 day 02:00:00'::interval",
                &[("interval.handling.mode", "string")]
            )
            .as_deref(),
            Some("\"P0Y0M1DT2H0M0S\"")
        );
        assert_eq!(
            dflt("uuid", -1, "gen_random_uuid()", &[]).as_deref(),
            Some("\"00000000-0000-0000-0000-000000000000\"")
        );
        assert_eq!(
            dflt(
                "uuid",
                -1,
                "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
                &[]
            )
            .as_deref(),
            Some("\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"")
        );
        assert_eq!(
            dflt("json", -1, "'{\"a\": 1}'::json", &[]).as_deref(),
            Some("\"{\\\"a\\\": 1}\"")
        );
        assert_eq!(dflt("bytea", -1, "'\\x0102'::bytea", &[]), None);
        assert_eq!(
            dflt("bit", 3, "B'101'::\"bit\"", &[]).as_deref(),
            Some("\"BQ==\"")
        );
        assert_eq!(
            dflt("bit", 1, "B'1'::\"bit\"", &[]).as_deref(),
            Some("true")
        );
        assert_eq!(dflt("text", -1, "NULL::text", &[]), None);
        assert_eq!(dflt("inet", -1, "'127.0.0.1'::inet", &[]), None);
    }

    #[test]
    fn enum_defaults() {
        let mut c = col(
            "color",
            -1,
            PgTypeKind::Enum {
                labels: vec!["red".into(), "green".into()],
            },
        );
        c.pg_type.schema = "public".into();
        let repr = Repr::Text {
            name: Some("io.debezium.data.Enum"),
            allowed: Some("red,green".into()),
        };
        assert_eq!(
            default_json(&c, &repr, "'green'::color").as_deref(),
            Some(&b"\"green\""[..])
        );
        assert_eq!(default_json(&c, &repr, "'green'::other"), None);
    }
}
