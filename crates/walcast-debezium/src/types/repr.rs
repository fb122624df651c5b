//! The representation choice: which Connect schema a PostgreSQL type gets (given its type
//! modifier and the connector's `*.handling.mode` and `time.precision.mode` settings), decided
//! once per column when a table's encoder is built.
//!
//! In: a catalog type ([`PgType`]), its type modifier and the [`EventConfig`]. Out: a [`Repr`],
//! or `None` when Debezium leaves the column out; [`Repr::schema`] renders its Connect schema.
//! Converting a value with a `Repr` lives in `write`.

use walcast_pgoutput::{PgType, PgTypeKind};

use crate::config::{
    BinaryMode, DecimalMode, EventConfig, HstoreMode, IntervalMode, TimePrecisionMode,
};
use crate::schema::ConnectSchema;

/// How one column (or array element) is represented.
#[derive(Debug, Clone, PartialEq)]
pub enum Repr {
    Boolean,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// Connect `Decimal` with a fixed scale (precise mode, `numeric(p,s)`).
    DecimalBytes {
        scale: u32,
        precision: Option<u32>,
    },
    /// `io.debezium.data.VariableScaleDecimal` (precise mode, unconstrained `numeric`).
    VariableScaleDecimal,
    /// Decimal as a string (`decimal.handling.mode=string`).
    DecimalString,
    /// Decimal as a double (`decimal.handling.mode=double`).
    DecimalDouble,
    /// `money` in precise mode: `Decimal` with `money.fraction.digits` scale.
    MoneyBytes {
        scale: u32,
    },
    MoneyString {
        scale: u32,
    },
    MoneyDouble,
    /// A string, passed through; `name`/`params` give the logical type (`Json`, `Uuid`, `Enum`...).
    Text {
        name: Option<&'static str>,
        allowed: Option<String>,
    },
    /// `bytea`.
    Bytea(BinaryMode),
    /// `bit(1)` as a boolean.
    Bit,
    /// `bit(n)` / `varbit` as `io.debezium.data.Bits` (little-endian bytes).
    Bits {
        length: i32,
    },
    Date(DateRepr),
    Time(TimeRepr),
    /// `timetz` as `io.debezium.time.ZonedTime`.
    ZonedTime,
    Timestamp(TimestampRepr),
    /// `timestamptz` as `io.debezium.time.ZonedTimestamp` with this many fraction digits.
    ZonedTimestamp {
        digits: u8,
    },
    Interval(IntervalMode),
    Hstore(HstoreMode),
    Point,
    /// A type Debezium does not know, included as bytes of its text; geometric types are
    /// re-rendered the way PgJDBC's objects print them.
    Unknown {
        geometric: bool,
    },
    Array {
        element: Box<Repr>,
        /// Items are `optional: false` (Debezium's enum arrays); a NULL element makes the whole
        /// array null, as in Debezium.
        required_items: bool,
        /// What an unchanged TOAST value of this array becomes.
        toast: ArrayToast,
    },
}

/// `date` representations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateRepr {
    /// `io.debezium.time.Date` (days).
    Debezium,
    /// `org.apache.kafka.connect.data.Date` (days).
    Connect,
    /// `io.debezium.time.IsoDate` string.
    Iso,
}

/// `time` representations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeRepr {
    Millis,
    Micros,
    Nanos,
    ConnectMillis,
    Iso,
}

/// `timestamp` representations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampRepr {
    Millis,
    Micros,
    Nanos,
    ConnectMillis,
    Iso,
}

/// Debezium's placeholder shapes for unchanged TOASTed arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayToast {
    /// `["__debezium_unavailable_value"]` (text-like arrays).
    TextList,
    /// The placeholder's bytes as numbers (`int4[]`, `date[]`, `int8[]`).
    ByteNumbers,
    /// No placeholder shape: null.
    Null,
}

fn numeric_typmod(typmod: i32) -> Option<(u32, u32)> {
    if typmod < 4 {
        return None;
    }
    let t = typmod - 4;
    let precision = ((t >> 16) & 0xffff) as u32;
    // PostgreSQL 15 stores the scale as an 11-bit signed number; negative scales are rounded
    // to whole numbers in the text output, which is scale 0 here.
    let raw = t & 0x7ff;
    let scale = if raw & 0x400 != 0 { 0 } else { raw as u32 };
    Some((precision, scale))
}

/// Time precision from a `time`/`timestamp` type modifier (default 6).
fn time_precision(typmod: i32) -> u8 {
    if (0..=6).contains(&typmod) {
        typmod as u8
    } else {
        6
    }
}

fn bit_length(name: &str, typmod: i32) -> i32 {
    if typmod >= 0 {
        typmod
    } else if name == "bit" {
        1
    } else {
        i32::MAX
    }
}

/// Decides the representation of a column's type, or `None` when Debezium would leave the column
/// out (an unknown type without `include.unknown.datatypes`).
pub fn repr_of(ty: &PgType, typmod: i32, cfg: &EventConfig) -> Option<Repr> {
    match &ty.kind {
        PgTypeKind::Domain {
            base,
            base_type_modifier,
        } => repr_of(
            base,
            if typmod >= 0 {
                typmod
            } else {
                *base_type_modifier
            },
            cfg,
        ),
        PgTypeKind::Enum { labels } => Some(Repr::Text {
            name: Some("io.debezium.data.Enum"),
            allowed: Some(labels.join(",")),
        }),
        PgTypeKind::Array { element } => {
            // Debezium maps arrays only of these element types; others (interval[], point[],
            // ranges...) are unknown types.
            let supported = matches!(element.kind, PgTypeKind::Enum { .. })
                || matches!(
                    (&element.kind, element.name.as_str()),
                    (
                        PgTypeKind::Base | PgTypeKind::Domain { .. },
                        "bool"
                            | "int2"
                            | "int4"
                            | "int8"
                            | "oid"
                            | "float4"
                            | "float8"
                            | "numeric"
                            | "money"
                            | "text"
                            | "varchar"
                            | "bpchar"
                            | "char"
                            | "name"
                            | "uuid"
                            | "json"
                            | "jsonb"
                            | "xml"
                            | "bytea"
                            | "inet"
                            | "cidr"
                            | "macaddr"
                            | "macaddr8"
                            | "date"
                            | "time"
                            | "timetz"
                            | "timestamp"
                            | "timestamptz"
                            | "hstore"
                            | "citext"
                            | "ltree"
                    )
                );
            if !supported {
                return unknown(cfg, false);
            }
            let elem = repr_of(element, typmod, cfg)?;
            if matches!(elem, Repr::Unknown { .. }) {
                return unknown(cfg, false);
            }
            let required_items = matches!(element.kind, PgTypeKind::Enum { .. });
            let toast = match element.name.as_str() {
                "text" | "varchar" | "json" | "jsonb" => ArrayToast::TextList,
                "int4" | "date" | "int8" => ArrayToast::ByteNumbers,
                _ => ArrayToast::Null,
            };
            Some(Repr::Array {
                element: Box::new(elem),
                required_items,
                toast,
            })
        }
        PgTypeKind::Range => match ty.name.as_str() {
            "int4range" | "int8range" | "numrange" | "tsrange" | "tstzrange" | "daterange"
            | "int4multirange" | "int8multirange" | "nummultirange" | "tsmultirange"
            | "tstzmultirange" | "datemultirange" => Some(Repr::Text {
                name: None,
                allowed: None,
            }),
            _ => unknown(cfg, false),
        },
        PgTypeKind::Composite | PgTypeKind::Other => unknown(cfg, false),
        PgTypeKind::Base => base_repr(ty, typmod, cfg),
    }
}

fn unknown(cfg: &EventConfig, geometric: bool) -> Option<Repr> {
    cfg.include_unknown_datatypes
        .then_some(Repr::Unknown { geometric })
}

fn text(name: Option<&'static str>) -> Option<Repr> {
    Some(Repr::Text {
        name,
        allowed: None,
    })
}

fn base_repr(ty: &PgType, typmod: i32, cfg: &EventConfig) -> Option<Repr> {
    let time_mode = cfg.time_precision_mode;
    Some(match ty.name.as_str() {
        "bool" => Repr::Boolean,
        "int2" => Repr::Int16,
        "int4" => Repr::Int32,
        "int8" | "oid" => Repr::Int64,
        "float4" => Repr::Float32,
        "float8" => Repr::Float64,
        "numeric" => match cfg.decimal_mode {
            DecimalMode::Precise => match numeric_typmod(typmod) {
                Some((p, s)) => Repr::DecimalBytes {
                    scale: s,
                    precision: Some(p),
                },
                None => Repr::VariableScaleDecimal,
            },
            DecimalMode::String => Repr::DecimalString,
            DecimalMode::Double => Repr::DecimalDouble,
        },
        "money" => {
            let scale = u32::from(cfg.money_fraction_digits);
            match cfg.decimal_mode {
                DecimalMode::Precise => Repr::MoneyBytes { scale },
                DecimalMode::String => Repr::MoneyString { scale },
                DecimalMode::Double => Repr::MoneyDouble,
            }
        }
        "text" | "varchar" | "bpchar" | "name" | "char" | "inet" | "cidr" | "macaddr"
        | "macaddr8" | "citext" => return text(None),
        "uuid" => return text(Some("io.debezium.data.Uuid")),
        "json" | "jsonb" => return text(Some("io.debezium.data.Json")),
        "xml" => return text(Some("io.debezium.data.Xml")),
        "ltree" => return text(Some("io.debezium.data.Ltree")),
        "tsvector" => return text(Some("io.debezium.data.Tsvector")),
        "bytea" => Repr::Bytea(cfg.binary_mode),
        "bit" | "varbit" => {
            let len = bit_length(&ty.name, typmod);
            if ty.name == "bit" && len == 1 {
                Repr::Bit
            } else {
                Repr::Bits { length: len }
            }
        }
        "date" => Repr::Date(match time_mode {
            TimePrecisionMode::Connect => DateRepr::Connect,
            TimePrecisionMode::IsoString => DateRepr::Iso,
            _ => DateRepr::Debezium,
        }),
        "time" => Repr::Time(match time_mode {
            TimePrecisionMode::Adaptive => {
                if time_precision(typmod) <= 3 {
                    TimeRepr::Millis
                } else {
                    TimeRepr::Micros
                }
            }
            TimePrecisionMode::AdaptiveTimeMicroseconds | TimePrecisionMode::Microseconds => {
                TimeRepr::Micros
            }
            TimePrecisionMode::Nanoseconds => TimeRepr::Nanos,
            TimePrecisionMode::Connect => TimeRepr::ConnectMillis,
            TimePrecisionMode::IsoString => TimeRepr::Iso,
        }),
        "timetz" => Repr::ZonedTime,
        "timestamp" => Repr::Timestamp(match time_mode {
            TimePrecisionMode::Adaptive | TimePrecisionMode::AdaptiveTimeMicroseconds => {
                if time_precision(typmod) <= 3 {
                    TimestampRepr::Millis
                } else {
                    TimestampRepr::Micros
                }
            }
            TimePrecisionMode::Microseconds => TimestampRepr::Micros,
            TimePrecisionMode::Nanoseconds => TimestampRepr::Nanos,
            TimePrecisionMode::Connect => TimestampRepr::ConnectMillis,
            TimePrecisionMode::IsoString => TimestampRepr::Iso,
        }),
        "timestamptz" => Repr::ZonedTimestamp {
            digits: time_precision(typmod),
        },
        "interval" => Repr::Interval(cfg.interval_mode),
        "hstore" => Repr::Hstore(cfg.hstore_mode),
        "point" => Repr::Point,
        "line" | "lseg" | "box" | "path" | "polygon" | "circle" => return unknown(cfg, true),
        _ => return unknown(cfg, false),
    })
}

impl Repr {
    /// The Connect schema of this representation.
    pub fn schema(&self, optional: bool) -> ConnectSchema {
        use ConnectSchema as S;
        match self {
            Repr::Boolean | Repr::Bit => S::primitive("boolean", optional),
            Repr::Int16 => S::primitive("int16", optional),
            Repr::Int32 => S::primitive("int32", optional),
            Repr::Int64 => S::primitive("int64", optional),
            Repr::Float32 => S::primitive("float", optional),
            Repr::Float64 | Repr::DecimalDouble | Repr::MoneyDouble => {
                S::primitive("double", optional)
            }
            Repr::DecimalBytes { scale, precision } => {
                let s = S::logical("bytes", "org.apache.kafka.connect.data.Decimal", optional)
                    .param("scale", scale.to_string());
                match precision {
                    Some(p) => s.param("connect.decimal.precision", p.to_string()),
                    None => s,
                }
            }
            Repr::MoneyBytes { scale } => {
                S::logical("bytes", "org.apache.kafka.connect.data.Decimal", optional)
                    .param("scale", scale.to_string())
            }
            Repr::VariableScaleDecimal => {
                let mut s = S::structure(
                    vec![
                        ("scale".into(), S::primitive("int32", false)),
                        ("value".into(), S::primitive("bytes", false)),
                    ],
                    optional,
                );
                s.name = Some("io.debezium.data.VariableScaleDecimal".into());
                s.version = Some(1);
                s.doc = Some("Variable scaled decimal");
                s
            }
            Repr::DecimalString | Repr::MoneyString { .. } => S::primitive("string", optional),
            Repr::Text { name, allowed } => {
                let mut s = match name {
                    Some(n) => S::logical("string", n, optional),
                    None => S::primitive("string", optional),
                };
                if let Some(a) = allowed {
                    s = s.param("allowed", a.clone());
                }
                s
            }
            Repr::Bytea(BinaryMode::Bytes) | Repr::Unknown { .. } => {
                S::primitive("bytes", optional)
            }
            Repr::Bytea(_) => S::primitive("string", optional),
            Repr::Bits { length } => S::logical("bytes", "io.debezium.data.Bits", optional)
                .param("length", length.to_string()),
            Repr::Date(DateRepr::Debezium) => {
                S::logical("int32", "io.debezium.time.Date", optional)
            }
            Repr::Date(DateRepr::Connect) => {
                S::logical("int32", "org.apache.kafka.connect.data.Date", optional)
            }
            Repr::Date(DateRepr::Iso) => S::logical("string", "io.debezium.time.IsoDate", optional),
            Repr::Time(TimeRepr::Millis) => S::logical("int32", "io.debezium.time.Time", optional),
            Repr::Time(TimeRepr::Micros) => {
                S::logical("int64", "io.debezium.time.MicroTime", optional)
            }
            Repr::Time(TimeRepr::Nanos) => {
                S::logical("int64", "io.debezium.time.NanoTime", optional)
            }
            Repr::Time(TimeRepr::ConnectMillis) => {
                S::logical("int32", "org.apache.kafka.connect.data.Time", optional)
            }
            Repr::Time(TimeRepr::Iso) => S::logical("string", "io.debezium.time.IsoTime", optional),
            Repr::ZonedTime => S::logical("string", "io.debezium.time.ZonedTime", optional),
            Repr::Timestamp(TimestampRepr::Millis) => {
                S::logical("int64", "io.debezium.time.Timestamp", optional)
            }
            Repr::Timestamp(TimestampRepr::Micros) => {
                S::logical("int64", "io.debezium.time.MicroTimestamp", optional)
            }
            Repr::Timestamp(TimestampRepr::Nanos) => {
                S::logical("int64", "io.debezium.time.NanoTimestamp", optional)
            }
            Repr::Timestamp(TimestampRepr::ConnectMillis) => {
                S::logical("int64", "org.apache.kafka.connect.data.Timestamp", optional)
            }
            Repr::Timestamp(TimestampRepr::Iso) => {
                S::logical("string", "io.debezium.time.IsoTimestamp", optional)
            }
            Repr::ZonedTimestamp { .. } => {
                S::logical("string", "io.debezium.time.ZonedTimestamp", optional)
            }
            Repr::Interval(IntervalMode::Numeric) => {
                S::logical("int64", "io.debezium.time.MicroDuration", optional)
            }
            Repr::Interval(IntervalMode::String) => {
                S::logical("string", "io.debezium.time.Interval", optional)
            }
            Repr::Hstore(HstoreMode::Json) => {
                S::logical("string", "io.debezium.data.Json", optional)
            }
            Repr::Hstore(HstoreMode::Map) => S::map(
                S::primitive("string", false),
                S::primitive("string", true),
                optional,
            ),
            Repr::Point => {
                let mut s = S::structure(
                    vec![
                        ("x".into(), S::primitive("double", false)),
                        ("y".into(), S::primitive("double", false)),
                        ("wkb".into(), S::primitive("bytes", true)),
                        ("srid".into(), S::primitive("int32", true)),
                    ],
                    optional,
                );
                s.name = Some("io.debezium.data.geometry.Point".into());
                s.version = Some(1);
                s.doc = Some("Geometry (POINT)");
                s
            }
            Repr::Array {
                element,
                required_items,
                ..
            } => S::array(element.schema(!required_items), optional),
        }
    }
}
