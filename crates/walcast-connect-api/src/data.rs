//! Kafka Connect's data model: a [`Schema`] describes a [`Value`]; a struct value is a
//! [`Struct`] whose fields follow its schema's [`Field`]s in order.
//!
//! This is what transforms and sinks work on, after `walcast-json` has read a record's key and
//! value (JsonConverter, with or without `schemas.enable`). Schemaless values (`schemas.enable`
//! off) have no schema: JSON objects become [`Value::Map`] with string keys, numbers
//! [`Value::Int64`] or [`Value::Float64`], as Connect's JsonConverter does.
//!
//! Logical types are Connect's: a primitive schema with a well-known `name` (and `parameters`),
//! e.g. `org.apache.kafka.connect.data.Decimal` on bytes with a `scale` parameter, or Debezium's
//! `io.debezium.time.MicroTimestamp` on int64. [`logical`] names them and renders them as text.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Connect's schema types (`Schema.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaType {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array,
    Map,
    Struct,
}

impl SchemaType {
    /// The name JsonConverter writes in `"type"` (`int32`, `struct`, ...).
    pub fn json_name(self) -> &'static str {
        match self {
            SchemaType::Int8 => "int8",
            SchemaType::Int16 => "int16",
            SchemaType::Int32 => "int32",
            SchemaType::Int64 => "int64",
            SchemaType::Float32 => "float",
            SchemaType::Float64 => "double",
            SchemaType::Boolean => "boolean",
            SchemaType::String => "string",
            SchemaType::Bytes => "bytes",
            SchemaType::Array => "array",
            SchemaType::Map => "map",
            SchemaType::Struct => "struct",
        }
    }

    /// The inverse of [`SchemaType::json_name`].
    pub fn from_json_name(name: &str) -> Option<Self> {
        Some(match name {
            "int8" => SchemaType::Int8,
            "int16" => SchemaType::Int16,
            "int32" => SchemaType::Int32,
            "int64" => SchemaType::Int64,
            "float" => SchemaType::Float32,
            "double" => SchemaType::Float64,
            "boolean" => SchemaType::Boolean,
            "string" => SchemaType::String,
            "bytes" => SchemaType::Bytes,
            "array" => SchemaType::Array,
            "map" => SchemaType::Map,
            "struct" => SchemaType::Struct,
            _ => return None,
        })
    }

    /// Whether values of this type are [`Value`] primitives (not array, map or struct).
    pub fn is_primitive(self) -> bool {
        !matches!(
            self,
            SchemaType::Array | SchemaType::Map | SchemaType::Struct
        )
    }
}

/// A shared, immutable schema. Records of one table share one `Arc`.
pub type SchemaRef = Arc<Schema>;

/// Connect's `Schema`: type, optionality, default, name/version/doc/parameters, and the nested
/// schemas of structs (fields), arrays (value schema) and maps (key and value schemas).
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub kind: SchemaType,
    pub optional: bool,
    /// The schema's default value (`"default"` in JsonConverter's envelope).
    pub default: Option<Value>,
    /// A logical type or a record name (`io.debezium.time.Date`, `server.public.orders.Value`).
    pub name: Option<String>,
    pub version: Option<i32>,
    pub doc: Option<String>,
    /// Logical type parameters (`scale`, `connect.decimal.precision`, `__debezium.source.column.type`...).
    pub parameters: BTreeMap<String, String>,
    /// Struct fields, in order. Empty for other types.
    pub fields: Vec<Field>,
    /// Map key schema.
    pub key_schema: Option<SchemaRef>,
    /// Array element or map value schema.
    pub value_schema: Option<SchemaRef>,
}

/// One field of a struct schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub schema: SchemaRef,
}

impl Schema {
    /// A required schema of a primitive type.
    pub fn primitive(kind: SchemaType) -> Self {
        Self {
            kind,
            optional: false,
            default: None,
            name: None,
            version: None,
            doc: None,
            parameters: BTreeMap::new(),
            fields: Vec::new(),
            key_schema: None,
            value_schema: None,
        }
    }

    /// An optional schema of a primitive type.
    pub fn optional(kind: SchemaType) -> Self {
        Self {
            optional: true,
            ..Self::primitive(kind)
        }
    }

    /// A struct schema with the given fields.
    pub fn structure(name: Option<String>, fields: Vec<Field>) -> Self {
        Self {
            name,
            fields,
            ..Self::primitive(SchemaType::Struct)
        }
    }

    /// An array schema.
    pub fn array(elements: SchemaRef) -> Self {
        Self {
            value_schema: Some(elements),
            ..Self::primitive(SchemaType::Array)
        }
    }

    /// A map schema.
    pub fn map(keys: SchemaRef, values: SchemaRef) -> Self {
        Self {
            key_schema: Some(keys),
            value_schema: Some(values),
            ..Self::primitive(SchemaType::Map)
        }
    }

    /// This schema, optional.
    pub fn into_optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// This schema with a name (a logical type).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// This schema with one more parameter.
    pub fn with_parameter(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.insert(key.into(), value.into());
        self
    }

    /// The struct field called `name`, with its position.
    pub fn field(&self, name: &str) -> Option<(usize, &Field)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }

    /// The schema's logical type name, if any.
    pub fn logical_name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl Field {
    pub fn new(name: impl Into<String>, schema: impl Into<SchemaRef>) -> Self {
        Self {
            name: name.into(),
            schema: schema.into(),
        }
    }
}

/// A Connect value. With a schema, its variant matches the schema's type (a null is
/// [`Value::Null`] for an optional schema); without one, JSON is read as Null, Boolean, Int64,
/// Float64, String, Array and Map.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Int8(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    String(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    /// Map entries in their order of appearance (keys are strings in JSON).
    Map(Vec<(Value, Value)>),
    Struct(Struct),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as an `i64` when it is any integer type.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int8(v) => Some(v.into()),
            Value::Int16(v) => Some(v.into()),
            Value::Int32(v) => Some(v.into()),
            Value::Int64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&Struct> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_struct_mut(&mut self) -> Option<&mut Struct> {
        match self {
            Value::Struct(s) => Some(s),
            _ => None,
        }
    }

    /// A named member of a struct or (string-keyed) map value, with its schema when the value
    /// is a struct (maps are schemaless here).
    pub fn member(&self, name: &str) -> Option<(Option<&Schema>, &Value)> {
        match self {
            Value::Struct(s) => {
                let (i, f) = s.schema.field(name)?;
                Some((Some(f.schema.as_ref()), s.values.get(i)?))
            }
            Value::Map(_) => self.get(name).map(|v| (None, v)),
            _ => None,
        }
    }

    /// Whether the value is a Debezium change event envelope: `before`, `after` and `source`
    /// members and a string `op`, as a struct (schemas on) or a map (schemas off).
    pub fn is_debezium_envelope(&self) -> bool {
        ["before", "after", "source"]
            .iter()
            .all(|n| self.member(n).is_some())
            && matches!(self.member("op"), Some((_, Value::String(_))))
    }

    /// A named member of a struct or (string-keyed) map value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(s) => s.get(name),
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(name))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A struct value: its schema and one value per schema field, in field order.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    pub schema: SchemaRef,
    pub values: Vec<Value>,
}

impl Struct {
    /// A struct with every field null (fill it with [`Struct::put`]).
    pub fn new(schema: SchemaRef) -> Self {
        let values = vec![Value::Null; schema.fields.len()];
        Self { schema, values }
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let (i, _) = self.schema.field(name)?;
        self.values.get(i)
    }

    /// Set field `name`; false when the schema has no such field.
    pub fn put(&mut self, name: &str, value: Value) -> bool {
        match self.schema.field(name) {
            Some((i, _)) => {
                if let Some(slot) = self.values.get_mut(i) {
                    *slot = value;
                }
                true
            }
            None => false,
        }
    }

    /// Fields with their values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Field, &Value)> {
        self.schema.fields.iter().zip(self.values.iter())
    }
}

/// Logical type names and their natural text forms.
pub mod logical {
    use super::{Schema, Value};
    use base64::Engine;

    pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
    pub const DATE: &str = "org.apache.kafka.connect.data.Date";
    pub const TIME: &str = "org.apache.kafka.connect.data.Time";
    pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
    pub const DBZ_VARIABLE_SCALE_DECIMAL: &str = "io.debezium.data.VariableScaleDecimal";
    pub const DBZ_DATE: &str = "io.debezium.time.Date";
    pub const DBZ_TIME: &str = "io.debezium.time.Time";
    pub const DBZ_MICRO_TIME: &str = "io.debezium.time.MicroTime";
    pub const DBZ_NANO_TIME: &str = "io.debezium.time.NanoTime";
    pub const DBZ_TIMESTAMP: &str = "io.debezium.time.Timestamp";
    pub const DBZ_MICRO_TIMESTAMP: &str = "io.debezium.time.MicroTimestamp";
    pub const DBZ_NANO_TIMESTAMP: &str = "io.debezium.time.NanoTimestamp";
    pub const DBZ_ZONED_TIMESTAMP: &str = "io.debezium.time.ZonedTimestamp";
    pub const DBZ_ZONED_TIME: &str = "io.debezium.time.ZonedTime";
    pub const DBZ_INTERVAL: &str = "io.debezium.time.Interval";
    pub const DBZ_MICRO_DURATION: &str = "io.debezium.time.MicroDuration";
    pub const DBZ_JSON: &str = "io.debezium.data.Json";
    pub const DBZ_UUID: &str = "io.debezium.data.Uuid";
    pub const DBZ_XML: &str = "io.debezium.data.Xml";
    pub const DBZ_BITS: &str = "io.debezium.data.Bits";
    pub const DBZ_ENUM: &str = "io.debezium.data.Enum";

    /// The proleptic Gregorian (year, month, day) of days since 1970-01-01 (astronomical year
    /// numbering: 0 is 1 BC).
    pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        (if m <= 2 { y + 1 } else { y }, m, d)
    }

    /// The decimal text of an unscaled big-endian two's-complement integer with `scale`
    /// (Connect's Decimal encoding): `[0x07, 0xCF]` with scale 2 is `19.99`.
    pub fn decimal_text(unscaled: &[u8], scale: i32) -> String {
        // Two's-complement bytes to sign + magnitude digits (arbitrary length).
        let negative = unscaled.first().is_some_and(|b| b & 0x80 != 0);
        let mut mag: Vec<u8> = if negative {
            // Magnitude = two's complement negation.
            let mut v: Vec<u8> = unscaled.iter().map(|b| !b).collect();
            for b in v.iter_mut().rev() {
                let (r, carry) = b.overflowing_add(1);
                *b = r;
                if !carry {
                    break;
                }
            }
            v
        } else {
            unscaled.to_vec()
        };
        // Repeated division by 10 of the big-endian magnitude.
        let mut digits = Vec::new();
        while mag.iter().any(|&b| b != 0) {
            let mut rem: u32 = 0;
            for b in mag.iter_mut() {
                let cur = (rem << 8) | u32::from(*b);
                *b = (cur / 10) as u8;
                rem = cur % 10;
            }
            digits.push(b'0' + rem as u8);
        }
        if digits.is_empty() {
            digits.push(b'0');
        }
        digits.reverse();
        let mut s = String::with_capacity(digits.len() + 3);
        if negative {
            s.push('-');
        }
        let digits = String::from_utf8_lossy(&digits).into_owned();
        if scale <= 0 {
            s.push_str(&digits);
            if digits != "0" {
                for _ in 0..(-scale) {
                    s.push('0');
                }
            }
            return s;
        }
        let scale = scale as usize;
        if digits.len() <= scale {
            s.push_str("0.");
            for _ in 0..(scale - digits.len()) {
                s.push('0');
            }
            s.push_str(&digits);
        } else {
            let (int, frac) = digits.split_at(digits.len() - scale);
            s.push_str(int);
            s.push('.');
            s.push_str(frac);
        }
        s
    }

    /// The decimal text of a Decimal value given as JSON does (base64 of the unscaled bytes).
    pub fn decimal_text_base64(b64: &str, scale: i32) -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        Some(decimal_text(&bytes, scale))
    }

    /// The scale of a Decimal schema (`scale` parameter, 0 when absent).
    pub fn decimal_scale(schema: &Schema) -> i32 {
        schema
            .parameters
            .get("scale")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// A value's logical decimal text for `Decimal` and `VariableScaleDecimal` values; `None`
    /// for other schemas.
    pub fn as_decimal_text(schema: &Schema, value: &Value) -> Option<String> {
        match (schema.name.as_deref(), value) {
            (Some(DECIMAL), Value::Bytes(b)) => Some(decimal_text(b, decimal_scale(schema))),
            (Some(DBZ_VARIABLE_SCALE_DECIMAL), Value::Struct(s)) => {
                let scale = s.get("scale")?.as_i64()?;
                match s.get("value")? {
                    Value::Bytes(b) => Some(decimal_text(b, i32::try_from(scale).ok()?)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn decimals() {
            assert_eq!(decimal_text(&[0x07, 0xCF], 2), "19.99");
            assert_eq!(decimal_text(&[0xF8, 0x31], 2), "-19.99");
            assert_eq!(decimal_text(&[0x05], 3), "0.005");
            assert_eq!(decimal_text(&[0x00], 2), "0.00");
            assert_eq!(decimal_text(&[], 0), "0");
            assert_eq!(decimal_text(&[0x0C], -2), "1200");
            assert_eq!(decimal_text(&[0xFF], 0), "-1");
            assert_eq!(decimal_text_base64("B88=", 2).as_deref(), Some("19.99"));
        }
    }
}
