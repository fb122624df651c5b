//! Kafka Connect's `JsonConverter`, both ways, for walcast's data model
//! ([`walcast_connect_api::data`]).
//!
//! In: a Kafka key or value as bytes (what walcast's source or any Debezium/Connect producer
//! wrote). Out: an optional [`SchemaRef`] and a [`Value`] that transforms and sinks work on. And
//! back: a schema and value become the same bytes Connect would write, so a transformed record
//! can be dead-lettered or re-produced exactly as Connect would.
//!
//! With `schemas.enable=true` the JSON is the `{"schema": ..., "payload": ...}` envelope; the
//! schema is read like Connect's `asConnectSchema` and the payload converted per schema (bytes
//! and `Decimal` as base64, maps as an object when keys are strings, else as `[key, value]`
//! pairs). With `schemas.enable=false` the JSON is the bare payload and values are schemaless:
//! objects become [`Value::Map`] with string keys in order, integers [`Value::Int64`], other
//! numbers [`Value::Float64`].
//!
//! Like Connect (`replace.null.with.default=true`), a JSON null for a schema with a default reads
//! as the default, and a null value with a default writes the default.
//!
//! Speed (the sink reads every record through here): each distinct schema text is parsed once
//! per thread and its `Arc` shared by every record that repeats it; an envelope in
//! JsonConverter's compact form with a known schema is matched byte for byte instead of being
//! scanned; payloads are read straight from the bytes per schema (`seed`), without an
//! intermediate `serde_json::Value`. `examples/read_speed.rs` measures it.
//!
//! Errors say where in the document something is wrong (`payload.after.price: expected bytes
//! (base64)`), never the value itself: record values may be personal data.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

mod seed;

use base64::Engine;
use serde_json::value::RawValue;
use serde_json::{Map as JsonMap, Number, Value as Json};
use walcast_connect_api::data::{logical, Field, Schema, SchemaRef, SchemaType, Struct, Value};

const ENVELOPE_MESSAGE: &str = "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.";

/// Why bytes could not be read as a Connect value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The bytes are not JSON at all (the message is serde_json's: position, no content).
    #[error("Converting byte[] to Kafka Connect data failed due to serialization error: {0}")]
    Syntax(String),
    /// `schemas.enable=true` but the JSON is not a `{"schema", "payload"}` envelope.
    #[error("{ENVELOPE_MESSAGE}")]
    MissingEnvelope,
    /// Something at `path` does not fit its schema (or is not a valid schema).
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// Where in the document a conversion is, rendered only when an error needs it.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root(&'static str),
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

fn invalid(path: &Path<'_>, message: impl Into<String>) -> JsonError {
    JsonError::Invalid {
        path: path.to_string(),
        message: message.into(),
    }
}

/// What kind of JSON node a value is, for error messages (never its content).
fn node_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// An object's members with their values as raw JSON text, in order (duplicates kept, so a
/// duplicated `schema` is not an envelope).
struct RawEnvelope<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for RawEnvelope<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Members<'a> {
            type Value = RawEnvelope<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(2);
                while let Some((k, v)) = m.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(RawEnvelope(out))
            }
        }
        d.deserialize_map(Members(std::marker::PhantomData))
    }
}

/// How many distinct schemas each thread keeps parsed (a sink task sees a few per topic).
const SCHEMA_CACHE_SIZE: usize = 64;

thread_local! {
    /// Recently read schemas by their exact JSON text, most recent last.
    static SCHEMAS: RefCell<Vec<(Box<str>, SchemaRef)>> = const { RefCell::new(Vec::new()) };
}

/// The schema of this JSON text, parsed once per thread and shared (the same `Arc`) by every
/// record that repeats it, which also lets transforms recognise it with a pointer compare.
fn cached_schema(text: &str) -> Result<SchemaRef, JsonError> {
    let hit = SCHEMAS.with(|c| {
        let mut c = c.borrow_mut();
        let i = c.iter().rposition(|(t, _)| &**t == text)?;
        let entry = c.remove(i);
        let schema = Arc::clone(&entry.1);
        c.push(entry);
        Some(schema)
    });
    if let Some(s) = hit {
        return Ok(s);
    }
    let json: Json = serde_json::from_str(text).map_err(|e| JsonError::Syntax(e.to_string()))?;
    let schema = Arc::new(read_schema(&json, &Path::Root("schema"))?);
    SCHEMAS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= SCHEMA_CACHE_SIZE {
            c.remove(0);
        }
        c.push((text.into(), Arc::clone(&schema)));
    });
    Ok(schema)
}

/// The fast path for the envelope exactly as JsonConverter and walcast's source write it,
/// `{"schema":<S>,"payload":<P>}` with no whitespace, when `<S>` is a schema this thread has
/// already read: the schema text is compared byte for byte instead of being scanned as JSON,
/// and only `<P>` is parsed. Since `<S>` was valid JSON when it was cached, the bytes are a
/// valid two-member envelope exactly when `<P>` parses as one JSON value. `None` sends the
/// bytes to the general path (which also produces the precise errors).
fn read_compact(bytes: &[u8]) -> Option<Result<(Option<SchemaRef>, Value), JsonError>> {
    const HEAD: &[u8] = b"{\"schema\":";
    const MID: &[u8] = b",\"payload\":";
    let rest = bytes.strip_prefix(HEAD)?;
    let (schema, after_schema) = if let Some(after) = rest.strip_prefix(b"null") {
        (None, after)
    } else {
        SCHEMAS.with(|c| {
            let c = c.borrow();
            c.iter().rev().find_map(|(text, schema)| {
                let after = rest.strip_prefix(text.as_bytes())?;
                after
                    .starts_with(MID)
                    .then(|| (Some(Arc::clone(schema)), after))
            })
        })?
    };
    let payload = after_schema
        .strip_prefix(MID)?
        .trim_ascii_end()
        .strip_suffix(b"}")?;
    match seed::read_payload(schema.as_ref(), payload) {
        // Not one JSON value: let the general path say what the bytes are.
        Err(JsonError::Syntax(_)) => None,
        read => Some(read.map(|value| (schema, value))),
    }
}

/// Read a record key or value as Connect's JsonConverter does. `None` or empty bytes are a
/// null (a tombstone value): `(None, Value::Null)`.
pub fn read(
    bytes: Option<&[u8]>,
    schemas_enable: bool,
) -> Result<(Option<SchemaRef>, Value), JsonError> {
    let bytes = match bytes {
        None | Some([]) => return Ok((None, Value::Null)),
        Some(b) => b,
    };
    if !schemas_enable {
        return Ok((None, seed::read_payload(None, bytes)?));
    }
    if let Some(read) = read_compact(bytes) {
        return read;
    }
    // The envelope's members are kept as raw text: the schema text is the key of the schema
    // cache (records of one table repeat it byte for byte), and is parsed only on a miss.
    let envelope: Vec<(String, &RawValue)> = match serde_json::from_slice::<RawEnvelope<'_>>(bytes)
    {
        Ok(e) => e.0,
        Err(_) => {
            // Not an object of raw members: say whether it is JSON at all.
            return match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(e) => Err(JsonError::Syntax(e.to_string())),
                Ok(_) => Err(JsonError::MissingEnvelope),
            };
        }
    };
    let member = |name: &str| envelope.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
    let (Some(schema_raw), Some(payload_raw), 2) =
        (member("schema"), member("payload"), envelope.len())
    else {
        return Err(JsonError::MissingEnvelope);
    };
    let schema = match schema_raw.get() {
        "null" => None,
        text => Some(cached_schema(text)?),
    };
    let value = seed::read_payload(schema.as_ref(), payload_raw.get().as_bytes())?;
    Ok((schema, value))
}

/// Write a key or value as Connect's JsonConverter does: `None` (null bytes) for a null value
/// without schema (a tombstone), else the envelope (`schemas_enable`) or the bare payload.
pub fn write(schema: Option<&Schema>, value: &Value, schemas_enable: bool) -> Option<Vec<u8>> {
    if schema.is_none() && value.is_null() {
        return None;
    }
    let payload = value_to_json(schema, value);
    let json = if schemas_enable {
        let mut envelope = JsonMap::with_capacity(2);
        envelope.insert(
            "schema".into(),
            schema.map(schema_to_json).unwrap_or(Json::Null),
        );
        envelope.insert("payload".into(), payload);
        Json::Object(envelope)
    } else {
        payload
    };
    // Serialising a `serde_json::Value` to a Vec cannot fail (string keys, finite numbers).
    Some(serde_json::to_vec(&json).unwrap_or_default())
}

/// A schema as JsonConverter writes it in the envelope's `"schema"` (`asJsonSchema`): type,
/// nested schemas, optional, name, version, doc, parameters, default, in that order; struct
/// fields carry their name as `"field"` last.
pub fn schema_to_json(schema: &Schema) -> Json {
    let mut o = JsonMap::new();
    o.insert("type".into(), Json::from(schema.kind.json_name()));
    match schema.kind {
        SchemaType::Struct => {
            let fields = schema
                .fields
                .iter()
                .map(|f| {
                    let mut j = schema_to_json(&f.schema);
                    if let Json::Object(m) = &mut j {
                        m.insert("field".into(), Json::from(f.name.as_str()));
                    }
                    j
                })
                .collect();
            o.insert("fields".into(), Json::Array(fields));
        }
        SchemaType::Array => {
            if let Some(items) = &schema.value_schema {
                o.insert("items".into(), schema_to_json(items));
            }
        }
        SchemaType::Map => {
            if let Some(keys) = &schema.key_schema {
                o.insert("keys".into(), schema_to_json(keys));
            }
            if let Some(values) = &schema.value_schema {
                o.insert("values".into(), schema_to_json(values));
            }
        }
        _ => {}
    }
    o.insert("optional".into(), Json::Bool(schema.optional));
    if let Some(name) = &schema.name {
        o.insert("name".into(), Json::from(name.as_str()));
    }
    if let Some(version) = schema.version {
        o.insert("version".into(), Json::from(version));
    }
    if let Some(doc) = &schema.doc {
        o.insert("doc".into(), Json::from(doc.as_str()));
    }
    if !schema.parameters.is_empty() {
        let params = schema
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), Json::from(v.as_str())))
            .collect();
        o.insert("parameters".into(), Json::Object(params));
    }
    if let Some(default) = &schema.default {
        o.insert("default".into(), value_to_json(Some(schema), default));
    }
    Json::Object(o)
}

/// Read a schema from its JSON form (`asConnectSchema`).
pub fn schema_from_json(json: &Json) -> Result<Schema, JsonError> {
    read_schema(json, &Path::Root("schema"))
}

fn read_schema(json: &Json, path: &Path<'_>) -> Result<Schema, JsonError> {
    let Json::Object(o) = json else {
        return Err(invalid(
            path,
            format!("a schema must be a JSON object, found {}", node_type(json)),
        ));
    };
    let kind = match o.get("type") {
        Some(Json::String(t)) => SchemaType::from_json_name(t).ok_or_else(|| {
            invalid(
                &Path::Field(path, "type"),
                "unknown schema type (expected int8, int16, int32, int64, float, double, boolean, string, bytes, array, map or struct)",
            )
        })?,
        _ => {
            return Err(invalid(
                path,
                "schema must contain a \"type\" field with a type name",
            ))
        }
    };
    let mut schema = Schema::primitive(kind);
    match kind {
        SchemaType::Struct => {
            let fields_path = Path::Field(path, "fields");
            let Some(Json::Array(fields)) = o.get("fields") else {
                return Err(invalid(
                    &fields_path,
                    "struct schema's \"fields\" argument is not an array",
                ));
            };
            for (i, f) in fields.iter().enumerate() {
                let fpath = Path::Index(&fields_path, i);
                let name = match f.get("field") {
                    Some(Json::String(n)) => n.clone(),
                    _ => {
                        return Err(invalid(
                            &fpath,
                            "struct schema's field must have a \"field\" name",
                        ))
                    }
                };
                let fs = read_schema(f, &fpath)?;
                if schema.field(&name).is_some() {
                    return Err(invalid(&fpath, "duplicate field name in struct schema"));
                }
                schema.fields.push(Field::new(name, fs));
            }
        }
        SchemaType::Array => {
            let items = o
                .get("items")
                .ok_or_else(|| invalid(path, "array schema did not specify the \"items\" type"))?;
            schema.value_schema = Some(Arc::new(read_schema(items, &Path::Field(path, "items"))?));
        }
        SchemaType::Map => {
            let keys = o
                .get("keys")
                .ok_or_else(|| invalid(path, "map schema did not specify the \"keys\" type"))?;
            let values = o
                .get("values")
                .ok_or_else(|| invalid(path, "map schema did not specify the \"values\" type"))?;
            schema.key_schema = Some(Arc::new(read_schema(keys, &Path::Field(path, "keys"))?));
            schema.value_schema =
                Some(Arc::new(read_schema(values, &Path::Field(path, "values"))?));
        }
        _ => {}
    }
    match o.get("optional") {
        None | Some(Json::Null) => {}
        Some(Json::Bool(b)) => schema.optional = *b,
        Some(_) => {
            return Err(invalid(
                &Path::Field(path, "optional"),
                "\"optional\" must be a boolean",
            ))
        }
    }
    match o.get("name") {
        None | Some(Json::Null) => {}
        Some(Json::String(n)) => schema.name = Some(n.clone()),
        Some(_) => {
            return Err(invalid(
                &Path::Field(path, "name"),
                "\"name\" must be a string",
            ))
        }
    }
    match o.get("version") {
        None | Some(Json::Null) => {}
        Some(v) => {
            let version = v
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| {
                    invalid(
                        &Path::Field(path, "version"),
                        "\"version\" must be an int32",
                    )
                })?;
            schema.version = Some(version);
        }
    }
    match o.get("doc") {
        None | Some(Json::Null) => {}
        Some(Json::String(d)) => schema.doc = Some(d.clone()),
        Some(_) => {
            return Err(invalid(
                &Path::Field(path, "doc"),
                "\"doc\" must be a string",
            ))
        }
    }
    match o.get("parameters") {
        None | Some(Json::Null) => {}
        Some(Json::Object(params)) => {
            let ppath = Path::Field(path, "parameters");
            let mut map = BTreeMap::new();
            for (k, v) in params {
                let Json::String(v) = v else {
                    return Err(invalid(
                        &Path::Field(&ppath, k),
                        "schema parameters must be strings",
                    ));
                };
                map.insert(k.clone(), v.clone());
            }
            schema.parameters = map;
        }
        Some(_) => {
            return Err(invalid(
                &Path::Field(path, "parameters"),
                "schema parameters must be a JSON object",
            ))
        }
    }
    if let Some(default) = o.get("default") {
        if !default.is_null() {
            let with_type = Arc::new(schema.clone());
            let value = to_connect(Some(&with_type), default, &Path::Field(path, "default"))?;
            schema.default = Some(value);
        }
    }
    Ok(schema)
}

/// Convert a JSON payload to a Connect value, per `schema` or schemaless.
fn to_connect(
    schema_ref: Option<&SchemaRef>,
    json: &Json,
    path: &Path<'_>,
) -> Result<Value, JsonError> {
    let Some(schema_ref) = schema_ref else {
        return Ok(schemaless(json));
    };
    let schema: &Schema = schema_ref;
    if json.is_null() {
        if let Some(default) = &schema.default {
            return Ok(default.clone());
        }
        if schema.optional {
            return Ok(Value::Null);
        }
        return Err(invalid(
            path,
            format!(
                "invalid null value for required {} field",
                schema.kind.json_name()
            ),
        ));
    }
    if schema.name.as_deref() == Some(logical::DECIMAL) && schema.kind == SchemaType::Bytes {
        return decimal(schema, json, path);
    }
    let expected =
        |what: &str| invalid(path, format!("expected {what}, found {}", node_type(json)));
    let int = |what: &str| -> Result<i64, JsonError> {
        json.as_i64().ok_or_else(|| {
            invalid(
                path,
                format!(
                    "expected {what} (an integer in range), found {}",
                    node_type(json)
                ),
            )
        })
    };
    Ok(match schema.kind {
        SchemaType::Int8 => Value::Int8(
            i8::try_from(int("int8")?).map_err(|_| invalid(path, "int8 value out of range"))?,
        ),
        SchemaType::Int16 => Value::Int16(
            i16::try_from(int("int16")?).map_err(|_| invalid(path, "int16 value out of range"))?,
        ),
        SchemaType::Int32 => Value::Int32(
            i32::try_from(int("int32")?).map_err(|_| invalid(path, "int32 value out of range"))?,
        ),
        SchemaType::Int64 => Value::Int64(int("int64")?),
        SchemaType::Float32 => Value::Float32(float(json).ok_or_else(|| expected("float"))? as f32),
        SchemaType::Float64 => Value::Float64(float(json).ok_or_else(|| expected("double"))?),
        SchemaType::Boolean => Value::Boolean(json.as_bool().ok_or_else(|| expected("boolean"))?),
        SchemaType::String => {
            Value::String(json.as_str().ok_or_else(|| expected("string"))?.to_string())
        }
        SchemaType::Bytes => {
            let s = json.as_str().ok_or_else(|| expected("bytes (base64)"))?;
            Value::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|_| {
                        invalid(
                            path,
                            "expected bytes (base64), found a string that is not base64",
                        )
                    })?,
            )
        }
        SchemaType::Array => {
            let items = schema
                .value_schema
                .as_ref()
                .ok_or_else(|| invalid(path, "array schema did not specify the element type"))?;
            let Json::Array(a) = json else {
                return Err(expected("array"));
            };
            let mut out = Vec::with_capacity(a.len());
            for (i, v) in a.iter().enumerate() {
                out.push(to_connect(Some(items), v, &Path::Index(path, i))?);
            }
            Value::Array(out)
        }
        SchemaType::Map => {
            let (Some(ks), Some(vs)) = (schema.key_schema.as_ref(), schema.value_schema.as_ref())
            else {
                return Err(invalid(
                    path,
                    "map schema did not specify the key and value types",
                ));
            };
            let mut out = Vec::new();
            if ks.kind == SchemaType::String {
                let Json::Object(o) = json else {
                    return Err(expected("map (an object with string keys)"));
                };
                for (k, v) in o {
                    out.push((
                        Value::String(k.clone()),
                        to_connect(Some(vs), v, &Path::Field(path, k))?,
                    ));
                }
            } else {
                let Json::Array(a) = json else {
                    return Err(expected("map (an array of [key, value] pairs)"));
                };
                for (i, pair) in a.iter().enumerate() {
                    let ipath = Path::Index(path, i);
                    let (Some(k), Some(v), Some(2)) =
                        (pair.get(0), pair.get(1), pair.as_array().map(Vec::len))
                    else {
                        return Err(invalid(
                            &ipath,
                            "a map entry must be a [key, value] array of two elements",
                        ));
                    };
                    out.push((
                        to_connect(Some(ks), k, &Path::Index(&ipath, 0))?,
                        to_connect(Some(vs), v, &Path::Index(&ipath, 1))?,
                    ));
                }
            }
            Value::Map(out)
        }
        SchemaType::Struct => {
            let Json::Object(o) = json else {
                return Err(expected("struct (a JSON object)"));
            };
            let mut values = Vec::with_capacity(schema.fields.len());
            for f in &schema.fields {
                let v = o.get(&f.name).unwrap_or(&Json::Null);
                values.push(to_connect(Some(&f.schema), v, &Path::Field(path, &f.name))?);
            }
            Value::Struct(Struct {
                schema: Arc::clone(schema_ref),
                values,
            })
        }
    })
}

/// A float from a JSON number, or the strings Jackson writes for non-finite values.
fn float(json: &Json) -> Option<f64> {
    match json {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// A `Decimal` value: base64 of the unscaled two's-complement integer, or (Connect's
/// `decimal.format=NUMERIC`) a JSON number, rescaled to the schema's scale when that is exact.
fn decimal(schema: &Schema, json: &Json, path: &Path<'_>) -> Result<Value, JsonError> {
    match json {
        Json::String(s) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(Value::Bytes)
            .map_err(|_| {
                invalid(
                    path,
                    "expected Decimal bytes (base64), found a string that is not base64",
                )
            }),
        Json::Number(n) => {
            let text = number_text(n);
            unscaled_bytes(&text, logical::decimal_scale(schema))
                .map(Value::Bytes)
                .ok_or_else(|| {
                    invalid(
                        path,
                        "Decimal number does not fit the schema's scale without rounding",
                    )
                })
        }
        other => Err(invalid(
            path,
            format!(
                "expected Decimal (base64 bytes or a number), found {}",
                node_type(other)
            ),
        )),
    }
}

/// The decimal text of a JSON number (no exponent: Rust's `f64` Display never uses one).
fn number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        n.as_f64().map(|f| f.to_string()).unwrap_or_default()
    }
}

/// Decimal text (`-12.50`) to the minimal big-endian two's-complement bytes of its unscaled
/// value at `scale` (Java's `BigInteger.toByteArray`); `None` when not exact or not a number.
fn unscaled_bytes(text: &str, scale: i32) -> Option<Vec<u8>> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    // Move the decimal point: the digits are the unscaled value at scale `frac.len()`.
    let have = i64::try_from(frac.len()).ok()?;
    let want = i64::from(scale);
    if want >= have {
        let extra = usize::try_from(want - have).ok()?;
        if extra > 1000 {
            return None;
        }
        digits.extend(std::iter::repeat_n(0, extra));
    } else {
        let drop = usize::try_from(have - want).ok()?;
        if drop > digits.len() {
            if digits.iter().any(|&d| d != 0) {
                return None;
            }
            digits.clear();
        } else {
            let cut = digits.len() - drop;
            if digits[cut..].iter().any(|&d| d != 0) {
                return None;
            }
            digits.truncate(cut);
        }
    }
    // Decimal digits to a big-endian magnitude.
    let mut mag: Vec<u8> = Vec::new();
    for d in digits {
        let mut carry = u32::from(d);
        for b in mag.iter_mut().rev() {
            let cur = u32::from(*b) * 10 + carry;
            *b = (cur & 0xFF) as u8;
            carry = cur >> 8;
        }
        while carry > 0 {
            mag.insert(0, (carry & 0xFF) as u8);
            carry >>= 8;
        }
    }
    while mag.first() == Some(&0) {
        mag.remove(0);
    }
    if mag.is_empty() {
        return Some(vec![0]);
    }
    if !negative {
        if mag[0] & 0x80 != 0 {
            mag.insert(0, 0);
        }
        return Some(mag);
    }
    // Two's complement of the magnitude.
    let mut v: Vec<u8> = mag.iter().map(|b| !b).collect();
    for b in v.iter_mut().rev() {
        let (r, carry) = b.overflowing_add(1);
        *b = r;
        if !carry {
            break;
        }
    }
    if v[0] & 0x80 == 0 {
        v.insert(0, 0xFF);
    }
    // Minimal form: drop redundant leading 0xFF bytes.
    while v.len() > 1 && v[0] == 0xFF && v[1] & 0x80 != 0 {
        v.remove(0);
    }
    Some(v)
}

/// A schemaless value (`schemas.enable=false`, or a `"schema": null` envelope).
fn schemaless(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int64(i),
            None => Value::Float64(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(schemaless).collect()),
        Json::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| (Value::String(k.clone()), schemaless(v)))
                .collect(),
        ),
    }
}

/// A value as JsonConverter writes it in a payload (`convertToJson`). With a schema, a null is
/// written as the schema's default when it has one; bytes and `Decimal` are base64; maps with
/// string keys are objects, other maps arrays of `[key, value]` pairs.
pub fn value_to_json(schema: Option<&Schema>, value: &Value) -> Json {
    match value {
        Value::Null => match schema.and_then(|s| s.default.as_ref()) {
            Some(default) if !default.is_null() => value_to_json(schema, default),
            _ => Json::Null,
        },
        Value::Boolean(b) => Json::Bool(*b),
        Value::Int8(v) => Json::from(*v),
        Value::Int16(v) => Json::from(*v),
        Value::Int32(v) => Json::from(*v),
        Value::Int64(v) => Json::from(*v),
        // Via the shortest decimal text of the f32, so 0.1f32 writes `0.1` as Java does.
        Value::Float32(v) => float_json(v.to_string().parse::<f64>().unwrap_or(f64::from(*v))),
        Value::Float64(v) => float_json(*v),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.value_schema.as_deref());
            Json::Array(
                items
                    .iter()
                    .map(|v| value_to_json(item_schema, v))
                    .collect(),
            )
        }
        Value::Map(entries) => {
            let ks = schema.and_then(|s| s.key_schema.as_deref());
            let vs = schema.and_then(|s| s.value_schema.as_deref());
            let string_keys = match ks {
                Some(k) => k.kind == SchemaType::String,
                None => entries.iter().all(|(k, _)| matches!(k, Value::String(_))),
            };
            if string_keys {
                let mut o = JsonMap::with_capacity(entries.len());
                for (k, v) in entries {
                    if let Value::String(k) = k {
                        o.insert(k.clone(), value_to_json(vs, v));
                    }
                }
                Json::Object(o)
            } else {
                Json::Array(
                    entries
                        .iter()
                        .map(|(k, v)| Json::Array(vec![value_to_json(ks, k), value_to_json(vs, v)]))
                        .collect(),
                )
            }
        }
        Value::Struct(s) => {
            let mut o = JsonMap::with_capacity(s.values.len());
            for (f, v) in s.iter() {
                o.insert(f.name.clone(), value_to_json(Some(&f.schema), v));
            }
            Json::Object(o)
        }
    }
}

/// A finite float as a JSON number; NaN and infinities as the strings Jackson writes.
fn float_json(v: f64) -> Json {
    match Number::from_f64(v) {
        Some(n) => Json::Number(n),
        None if v.is_nan() => Json::from("NaN"),
        None if v > 0.0 => Json::from("Infinity"),
        None => Json::from("-Infinity"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(schema: &str, payload: &str) -> Vec<u8> {
        format!("{{\"schema\":{schema},\"payload\":{payload}}}").into_bytes()
    }

    /// The payload read straight from bytes (`seed`) gives what converting a parsed JSON tree
    /// (`to_connect`) gives: same values, same errors.
    fn same_as_tree(schema: &str, payload: &str) {
        let bytes = env(schema, payload);
        let direct = read(Some(&bytes), true);
        let tree = (|| {
            let s = schema_from_json(&serde_json::from_str(schema).unwrap())?;
            let json: Json =
                serde_json::from_str(payload).map_err(|e| JsonError::Syntax(e.to_string()))?;
            to_connect(Some(&Arc::new(s)), &json, &Path::Root("payload"))
        })();
        match (direct, tree) {
            // Compared as text: NaN is not equal to itself.
            (Ok((_, a)), Ok(b)) => {
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{schema} {payload}")
            }
            // Positions in syntax errors differ (envelope vs bare payload).
            (Err(JsonError::Syntax(_)), Err(JsonError::Syntax(_))) => {}
            (Err(a), Err(b)) => assert_eq!(a, b, "{schema} {payload}"),
            (a, b) => panic!("{schema} {payload}: direct {a:?} vs tree {b:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn direct_read_matches_tree_conversion(
            schema in r#"\{"type":"(int8|int16|int32|int64|float|double|boolean|string|bytes)"(,"optional":(true|false))?(,"name":"org\.apache\.kafka\.connect\.data\.Decimal","parameters":\{"scale":"[0-3]"\})?\}|\{"type":"(array|map|struct)","optional":(true|false),"items":\{"type":"int16"\},"keys":\{"type":"(string|int8)"\},"values":\{"type":"bytes","optional":true\},"fields":\[\{"type":"int32","field":"a"\}\]\}"#,
            payload in r#"null|true|-?[0-9]{1,21}(\.[0-9]{1,4})?|"(AQ==|NaN|x|-Infinity)"|\[\]|\[1,300\]|\[\["a","AQ=="\],\[1,null\]\]|\[\[1\]\]|\{"a":(1|null|"b")\}|\{\}"#,
        ) {
            same_as_tree(&schema, &payload);
        }
    }

    #[test]
    fn repeated_schemas_are_shared() {
        let schema = r#"{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false}"#;
        let (a, _) = read(Some(&env(schema, r#"{"id":1}"#)), true).unwrap();
        let (b, v) = read(Some(&env(schema, r#"{"id":2}"#)), true).unwrap();
        assert!(Arc::ptr_eq(a.as_ref().unwrap(), b.as_ref().unwrap()));
        assert!(Arc::ptr_eq(
            b.as_ref().unwrap(),
            &v.as_struct().unwrap().schema
        ));
        assert_eq!(v.get("id"), Some(&Value::Int32(2)));
        // The compact fast path (schema already cached) agrees with the general one, also
        // on what is not an envelope.
        let extra = format!("{{\"schema\":{schema},\"payload\":{{\"id\":3}},\"x\":1}}");
        assert_eq!(
            read(Some(extra.as_bytes()), true).unwrap_err(),
            JsonError::MissingEnvelope
        );
        let spaced = format!("{{ \"schema\": {schema}, \"payload\": {{\"id\":2}} }}");
        assert_eq!(read(Some(spaced.as_bytes()), true).unwrap().1, v);
        let bad = env(schema, r#"{"id":"2"}"#);
        assert_eq!(
            read(Some(&bad), true).unwrap_err().to_string(),
            "payload.id: expected int32 (an integer in range), found a string"
        );
        // A duplicated member is not an envelope; broken JSON inside one is a syntax error.
        let dup = br#"{"schema":null,"payload":1,"payload":2}"#;
        assert_eq!(
            read(Some(dup), true).unwrap_err(),
            JsonError::MissingEnvelope
        );
        let broken = br#"{"schema":null,"payload":[1,}"#;
        assert!(matches!(
            read(Some(broken), true),
            Err(JsonError::Syntax(_))
        ));
        assert_eq!(
            read(Some(b"[1]"), true).unwrap_err(),
            JsonError::MissingEnvelope
        );
    }

    #[test]
    fn tombstones_and_empty() {
        assert_eq!(read(None, true).unwrap(), (None, Value::Null));
        assert_eq!(read(Some(b""), false).unwrap(), (None, Value::Null));
        assert_eq!(write(None, &Value::Null, true), None);
    }

    #[test]
    fn envelope_required_with_schemas() {
        let e = read(Some(br#"{"a":1}"#), true).unwrap_err();
        assert_eq!(e, JsonError::MissingEnvelope);
        assert!(e.to_string().contains("schemas.enable=false"));
        let e = read(Some(br#"{"schema":null,"payload":1,"x":2}"#), true).unwrap_err();
        assert_eq!(e, JsonError::MissingEnvelope);
        assert!(matches!(read(Some(b"{"), true), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn schemaless_values() {
        let (s, v) = read(Some(br#"{"b":1,"a":[1.5,"x",true,null]}"#), false).unwrap();
        assert!(s.is_none());
        assert_eq!(
            v,
            Value::Map(vec![
                (Value::String("b".into()), Value::Int64(1)),
                (
                    Value::String("a".into()),
                    Value::Array(vec![
                        Value::Float64(1.5),
                        Value::String("x".into()),
                        Value::Boolean(true),
                        Value::Null
                    ])
                ),
            ])
        );
        assert_eq!(
            write(None, &v, false).unwrap(),
            br#"{"b":1,"a":[1.5,"x",true,null]}"#.to_vec()
        );
        // A schema-less envelope writes `"schema":null`, as Connect does.
        assert_eq!(
            write(None, &Value::Int64(3), true).unwrap(),
            br#"{"schema":null,"payload":3}"#.to_vec()
        );
    }

    #[test]
    fn errors_name_the_path_not_the_value() {
        let bytes = env(
            r#"{"type":"struct","fields":[{"type":"struct","optional":true,"field":"after","fields":[{"type":"bytes","optional":true,"field":"price"}]}]}"#,
            r#"{"after":{"price":12345}}"#,
        );
        let e = read(Some(&bytes), true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "payload.after.price: expected bytes (base64), found a number"
        );
        let bytes = env(r#"{"type":"int8"}"#, "300");
        assert_eq!(
            read(Some(&bytes), true).unwrap_err().to_string(),
            "payload: int8 value out of range"
        );
        let bytes = env(r#"{"type":"string"}"#, "null");
        assert_eq!(
            read(Some(&bytes), true).unwrap_err().to_string(),
            "payload: invalid null value for required string field"
        );
        let bytes = env(r#"{"type":"struct","fields":[{"type":"int32"}]}"#, "{}");
        assert_eq!(
            read(Some(&bytes), true).unwrap_err().to_string(),
            "schema.fields[0]: struct schema's field must have a \"field\" name"
        );
        let bytes = env(r#"{"type":"varchar"}"#, "1");
        assert!(read(Some(&bytes), true)
            .unwrap_err()
            .to_string()
            .starts_with("schema.type: unknown schema type"));
    }

    #[test]
    fn maps_both_forms() {
        let bytes = env(
            r#"{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"string","optional":true},"optional":false}"#,
            r#"[[1,"a"],[2,null]]"#,
        );
        let (s, v) = read(Some(&bytes), true).unwrap();
        assert_eq!(
            v,
            Value::Map(vec![
                (Value::Int32(1), Value::String("a".into())),
                (Value::Int32(2), Value::Null)
            ])
        );
        assert_eq!(write(s.as_deref(), &v, true).unwrap(), bytes);
        let bytes = env(
            r#"{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int64","optional":false},"optional":true}"#,
            r#"{"x":1,"y":2}"#,
        );
        let (s, v) = read(Some(&bytes), true).unwrap();
        assert_eq!(write(s.as_deref(), &v, true).unwrap(), bytes);
    }

    #[test]
    fn defaults_replace_nulls() {
        let bytes = env(
            r#"{"type":"struct","fields":[{"type":"string","optional":true,"default":"d","field":"s"}],"optional":false}"#,
            r#"{"s":null}"#,
        );
        let (s, v) = read(Some(&bytes), true).unwrap();
        assert_eq!(v.get("s"), Some(&Value::String("d".into())));
        assert_eq!(
            value_to_json(s.as_deref(), &v),
            serde_json::json!({"s": "d"})
        );
    }

    #[test]
    fn decimals_from_base64_and_numbers() {
        let schema = r#"{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}}"#;
        let (s, v) = read(Some(&env(schema, r#""B88=""#)), true).unwrap();
        assert_eq!(v, Value::Bytes(vec![0x07, 0xCF]));
        let (_, n) = read(Some(&env(schema, "19.99")), true).unwrap();
        assert_eq!(n, v);
        let (_, n) = read(Some(&env(schema, "-19.99")), true).unwrap();
        assert_eq!(n, Value::Bytes(vec![0xF8, 0x31]));
        let (_, n) = read(Some(&env(schema, "20")), true).unwrap();
        assert_eq!(
            logical::as_decimal_text(s.as_deref().unwrap(), &n).unwrap(),
            "20.00"
        );
        assert!(read(Some(&env(schema, "1.234")), true).is_err());
        assert_eq!(unscaled_bytes("0", 2), Some(vec![0]));
        assert_eq!(unscaled_bytes("-1.28", 2), Some(vec![0x80]));
        assert_eq!(unscaled_bytes("-2.56", 2), Some(vec![0xFF, 0x00]));
        assert_eq!(unscaled_bytes("1.28", 2), Some(vec![0x00, 0x80]));
        assert_eq!(unscaled_bytes("1200", -2), Some(vec![0x0C]));
        assert_eq!(unscaled_bytes("1250", -2), None);
    }

    #[test]
    fn floats_keep_their_short_form() {
        let bytes = env(r#"{"type":"float","optional":false}"#, "0.1");
        let (s, v) = read(Some(&bytes), true).unwrap();
        assert_eq!(v, Value::Float32(0.1));
        assert_eq!(write(s.as_deref(), &v, true).unwrap(), bytes);
        assert_eq!(
            value_to_json(None, &Value::Float64(f64::NAN)),
            Json::from("NaN")
        );
        let bytes = env(r#"{"type":"double","optional":false}"#, r#""-Infinity""#);
        assert_eq!(
            read(Some(&bytes), true).unwrap().1,
            Value::Float64(f64::NEG_INFINITY)
        );
    }
}
