//! The payload read straight from bytes into Connect values, guided by the schema, without
//! building a `serde_json::Value` first (half the time of a record read went into that tree).
//!
//! Same rules and messages as `to_connect` in `tree.rs` (which still reads schema defaults):
//! a schema mismatch is recorded in [`Payload::error`] with its path, and serde only sees a
//! placeholder error that stops the parse.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use base64::Engine;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use walcast_connect_api::{logical, Schema, SchemaRef, SchemaType, Struct, Value};

use crate::error::{invalid, JsonError, Path};
use crate::number::unscaled_bytes;

/// Read one payload from `bytes` per `schema` (schemaless when `None`). The text is checked as
/// UTF-8 once, in one pass, instead of string by string; its common form is read by
/// [`crate::fast`], the rest by serde (bytes that are not UTF-8 by serde's byte reader, which
/// says where).
pub(crate) fn read_payload(
    schema: Option<&SchemaRef>,
    bytes: &[u8],
    keep: Option<&[&str]>,
) -> Result<Value, JsonError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            if let Some(v) = schema.and_then(|s| crate::fast::read(s, text, keep)) {
                return Ok(v);
            }
            read_serde(schema, serde_json::Deserializer::from_str(text), keep)
        }
        Err(_) => read_serde(schema, serde_json::Deserializer::from_slice(bytes), keep),
    }
}

/// [`read_payload`] through serde only (the fast reader's reference in its tests).
#[cfg(test)]
pub(crate) fn read_payload_general(
    schema: Option<&SchemaRef>,
    bytes: &[u8],
    keep: Option<&[&str]>,
) -> Result<Value, JsonError> {
    read_serde(schema, serde_json::Deserializer::from_slice(bytes), keep)
}

/// One payload through `de` per `schema`.
fn read_serde<'de, R: serde_json::de::Read<'de>>(
    schema: Option<&SchemaRef>,
    mut de: serde_json::Deserializer<R>,
    keep: Option<&[&str]>,
) -> Result<Value, JsonError> {
    let error = RefCell::new(None);
    let seed = Payload {
        schema,
        path: &Path::Root("payload"),
        error: &error,
        keep,
    };
    let out = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match (out, error.into_inner()) {
        (_, Some(e)) => Err(e),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(JsonError::Syntax(e.to_string())),
    }
}

/// A payload node to read: its schema, where it is, and where a mismatch is reported.
struct Payload<'a, 'p> {
    schema: Option<&'a SchemaRef>,
    path: &'a Path<'p>,
    error: &'a RefCell<Option<JsonError>>,
    /// At the root of a struct value only: the fields to build; the others are parsed and
    /// read as nulls (see [`crate::read_projected`]).
    keep: Option<&'a [&'a str]>,
}

impl Payload<'_, '_> {
    /// Record `e` (the first one wins) and stop the parse.
    fn fail<E: serde::de::Error>(&self, e: JsonError) -> E {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(e);
        }
        E::custom("schema mismatch")
    }

    fn mismatch<E: serde::de::Error>(&self, schema: &Schema, found: &str) -> E {
        let what = if is_decimal(schema) {
            "Decimal (base64 bytes or a number)".to_string()
        } else {
            match schema.kind {
                SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 | SchemaType::Int64 => {
                    format!("{} (an integer in range)", schema.kind.json_name())
                }
                SchemaType::Float32 => "float".into(),
                SchemaType::Float64 => "double".into(),
                SchemaType::Bytes => "bytes (base64)".into(),
                SchemaType::Map => {
                    if schema
                        .key_schema
                        .as_ref()
                        .is_some_and(|k| k.kind == SchemaType::String)
                    {
                        "map (an object with string keys)".into()
                    } else {
                        "map (an array of [key, value] pairs)".into()
                    }
                }
                SchemaType::Struct => "struct (a JSON object)".into(),
                k => k.json_name().into(),
            }
        };
        self.fail(invalid(
            self.path,
            format!("expected {what}, found {found}"),
        ))
    }

    fn child<'b>(&'b self, schema: Option<&'b SchemaRef>, path: &'b Path<'b>) -> Payload<'b, 'b> {
        Payload {
            schema,
            path,
            error: self.error,
            keep: None,
        }
    }

    fn integer<E: serde::de::Error>(&self, schema: &Schema, v: i128) -> Result<Value, E> {
        let range = || {
            self.fail(invalid(
                self.path,
                format!("{} value out of range", schema.kind.json_name()),
            ))
        };
        Ok(match schema.kind {
            SchemaType::Int8 => Value::Int8(i8::try_from(v).map_err(|_| range())?),
            SchemaType::Int16 => Value::Int16(i16::try_from(v).map_err(|_| range())?),
            SchemaType::Int32 => Value::Int32(i32::try_from(v).map_err(|_| range())?),
            SchemaType::Int64 => Value::Int64(i64::try_from(v).map_err(|_| {
                self.fail(invalid(
                    self.path,
                    "expected int64 (an integer in range), found a number",
                ))
            })?),
            SchemaType::Float32 => Value::Float32(v as f32),
            SchemaType::Float64 => Value::Float64(v as f64),
            _ if is_decimal(schema) => self.decimal_number(schema, &v.to_string())?,
            _ => return Err(self.mismatch(schema, "a number")),
        })
    }

    fn decimal_number<E: serde::de::Error>(&self, schema: &Schema, text: &str) -> Result<Value, E> {
        unscaled_bytes(text, logical::decimal_scale(schema))
            .map(Value::Bytes)
            .ok_or_else(|| {
                self.fail(invalid(
                    self.path,
                    "Decimal number does not fit the schema's scale without rounding",
                ))
            })
    }
}

fn is_decimal(schema: &Schema) -> bool {
    schema.kind == SchemaType::Bytes && schema.name.as_deref() == Some(logical::DECIMAL)
}

impl<'de> DeserializeSeed<'de> for Payload<'_, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Payload<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Connect payload")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        let Some(schema) = self.schema else {
            return Ok(Value::Null);
        };
        if let Some(default) = &schema.default {
            return Ok(default.clone());
        }
        if schema.optional {
            return Ok(Value::Null);
        }
        Err(self.fail(invalid(
            self.path,
            format!(
                "invalid null value for required {} field",
                schema.kind.json_name()
            ),
        )))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        match self.schema {
            None => Ok(Value::Boolean(v)),
            Some(s) if s.kind == SchemaType::Boolean => Ok(Value::Boolean(v)),
            Some(s) => Err(self.mismatch(s, "a boolean")),
        }
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        match self.schema {
            None => Ok(Value::Int64(v)),
            Some(s) => self.integer(s, i128::from(v)),
        }
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        match self.schema {
            // Beyond i64: a double, as serde_json's `Value::as_i64` would not give one.
            None => Ok(match i64::try_from(v) {
                Ok(i) => Value::Int64(i),
                Err(_) => Value::Float64(v as f64),
            }),
            Some(s) => self.integer(s, i128::from(v)),
        }
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        match self.schema {
            None => Ok(Value::Float64(v)),
            Some(s) => match s.kind {
                SchemaType::Float32 => Ok(Value::Float32(v as f32)),
                SchemaType::Float64 => Ok(Value::Float64(v)),
                _ if is_decimal(s) => self.decimal_number(s, &v.to_string()),
                SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 | SchemaType::Int64 => {
                    Err(self.mismatch(s, "a number"))
                }
                _ => Err(self.mismatch(s, "a number")),
            },
        }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        let Some(s) = self.schema else {
            return Ok(Value::String(v.to_string()));
        };
        match s.kind {
            SchemaType::String => Ok(Value::String(v.to_string())),
            SchemaType::Bytes => base64::engine::general_purpose::STANDARD
                .decode(v)
                .map(Value::Bytes)
                .map_err(|_| {
                    let what = if is_decimal(s) {
                        "Decimal bytes (base64)"
                    } else {
                        "bytes (base64)"
                    };
                    self.fail(invalid(
                        self.path,
                        format!("expected {what}, found a string that is not base64"),
                    ))
                }),
            SchemaType::Float32 | SchemaType::Float64 => {
                let f = match v {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    _ => return Err(self.mismatch(s, "a string")),
                };
                Ok(if s.kind == SchemaType::Float32 {
                    Value::Float32(f as f32)
                } else {
                    Value::Float64(f)
                })
            }
            _ => Err(self.mismatch(s, "a string")),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Some(s) = self.schema else {
            let mut out = Vec::new();
            let mut i = 0;
            loop {
                let path = Path::Index(self.path, i);
                match seq.next_element_seed(self.child(None, &path))? {
                    Some(v) => out.push(v),
                    None => break,
                }
                i += 1;
            }
            return Ok(Value::Array(out));
        };
        match s.kind {
            SchemaType::Array => {
                let Some(items) = s.value_schema.as_ref() else {
                    return Err(self.fail(invalid(
                        self.path,
                        "array schema did not specify the element type",
                    )));
                };
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                loop {
                    let path = Path::Index(self.path, out.len());
                    match seq.next_element_seed(self.child(Some(items), &path))? {
                        Some(v) => out.push(v),
                        None => break,
                    }
                }
                Ok(Value::Array(out))
            }
            SchemaType::Map
                if s.key_schema
                    .as_ref()
                    .is_some_and(|k| k.kind != SchemaType::String) =>
            {
                let mut out = Vec::new();
                loop {
                    let path = Path::Index(self.path, out.len());
                    let pair = PairSeed {
                        map: s,
                        node: self.child(None, &path),
                    };
                    match seq.next_element_seed(pair)? {
                        Some(kv) => out.push(kv),
                        None => break,
                    }
                }
                Ok(Value::Map(out))
            }
            _ => Err(self.mismatch(s, "an array")),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Some(s) = self.schema else {
            let mut out = Vec::new();
            while let Some(k) = map.next_key::<Key<'de>>()?.map(|k| k.0) {
                let path = Path::Field(self.path, &k);
                let v = map.next_value_seed(self.child(None, &path))?;
                out.push((Value::String(k.into_owned()), v));
            }
            return Ok(Value::Map(out));
        };
        match s.kind {
            SchemaType::Struct => {
                let n = s.fields.len();
                // Fields usually arrive in schema order, each once: they are pushed straight
                // into the struct's values. The first one out of order (or repeated) moves
                // them into `slots`, indexed by field, where a repeated field's last value wins.
                let mut out: Vec<Value> = Vec::with_capacity(n);
                let mut slots: Option<Vec<Option<Value>>> = None;
                let mut next = 0;
                while let Some(k) = map.next_key::<Key<'de>>()?.map(|k| k.0) {
                    // Try the next field first.
                    let i = if s.fields.get(next).is_some_and(|f| f.name == *k) {
                        Some(next)
                    } else {
                        s.fields.iter().position(|f| f.name == *k)
                    };
                    let Some(i) = i else {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    };
                    let f = &s.fields[i];
                    let v = if self.keep.is_some_and(|k| !k.contains(&f.name.as_str())) {
                        map.next_value::<IgnoredAny>()?;
                        Value::Null
                    } else {
                        let path = Path::Field(self.path, &f.name);
                        map.next_value_seed(self.child(Some(&f.schema), &path))?
                    };
                    next = i + 1;
                    match &mut slots {
                        None if i == out.len() => out.push(v),
                        None => {
                            let mut by_field: Vec<Option<Value>> =
                                out.drain(..).map(Some).collect();
                            by_field.resize(n, None);
                            by_field[i] = Some(v);
                            slots = Some(by_field);
                        }
                        Some(by_field) => by_field[i] = Some(v),
                    }
                }
                let seen: Vec<Option<Value>> = match slots {
                    Some(by_field) => by_field,
                    None => {
                        let mut seen: Vec<Option<Value>> = Vec::new();
                        if out.len() < n {
                            seen = out.drain(..).map(Some).collect();
                            seen.resize(n, None);
                        }
                        seen
                    }
                };
                if !seen.is_empty() {
                    for (f, v) in s.fields.iter().zip(seen) {
                        match v {
                            Some(v) => out.push(v),
                            None if self.keep.is_some_and(|k| !k.contains(&f.name.as_str())) => {
                                out.push(Value::Null)
                            }
                            // A missing field reads as a JSON null would.
                            None => {
                                let path = Path::Field(self.path, &f.name);
                                out.push(self.child(Some(&f.schema), &path).visit_unit()?);
                            }
                        }
                    }
                }
                Ok(Value::Struct(Struct {
                    schema: Arc::clone(s),
                    values: out,
                }))
            }
            SchemaType::Map
                if s.key_schema
                    .as_ref()
                    .is_some_and(|k| k.kind == SchemaType::String) =>
            {
                let Some(vs) = s.value_schema.as_ref() else {
                    return Err(self.fail(invalid(
                        self.path,
                        "map schema did not specify the key and value types",
                    )));
                };
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Key<'de>>()?.map(|k| k.0) {
                    let path = Path::Field(self.path, &k);
                    let v = map.next_value_seed(self.child(Some(vs), &path))?;
                    out.push((Value::String(k.into_owned()), v));
                }
                Ok(Value::Map(out))
            }
            _ => Err(self.mismatch(s, "an object")),
        }
    }
}

/// One `[key, value]` entry of a map whose keys are not strings.
struct PairSeed<'a, 'p> {
    map: &'a Schema,
    node: Payload<'a, 'p>,
}

impl<'de> DeserializeSeed<'de> for PairSeed<'_, '_> {
    type Value = (Value, Value);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PairSeed<'_, '_> {
    type Value = (Value, Value);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a [key, value] pair")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let not_pair = || {
            self.node.fail::<A::Error>(invalid(
                self.node.path,
                "a map entry must be a [key, value] array of two elements",
            ))
        };
        let (Some(ks), Some(vs)) = (self.map.key_schema.as_ref(), self.map.value_schema.as_ref())
        else {
            return Err(self.node.fail(invalid(
                self.node.path,
                "map schema did not specify the key and value types",
            )));
        };
        let kpath = Path::Index(self.node.path, 0);
        let k = seq
            .next_element_seed(self.node.child(Some(ks), &kpath))?
            .ok_or_else(not_pair)?;
        let vpath = Path::Index(self.node.path, 1);
        let v = seq
            .next_element_seed(self.node.child(Some(vs), &vpath))?
            .ok_or_else(not_pair)?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(not_pair());
        }
        Ok((k, v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Err(self.not_a_pair())
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(self.not_a_pair())
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(self.not_a_pair())
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(self.not_a_pair())
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(self.not_a_pair())
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(self.not_a_pair())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.not_a_pair())
    }
}

impl PairSeed<'_, '_> {
    /// Anything but an array where a map entry belongs (serde's own message would quote it).
    fn not_a_pair<E: serde::de::Error>(&self) -> E {
        self.node.fail(invalid(
            self.node.path,
            "a map entry must be a [key, value] array of two elements",
        ))
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}
