//! A parsed JSON tree to Connect values, per schema or schemaless. Payloads are read straight
//! from the bytes (`seed`); this reads schema defaults, which arrive as part of the schema.

use std::sync::Arc;

use base64::Engine;
use serde_json::Value as Json;
use walcast_connect_api::{logical, Schema, SchemaRef, SchemaType, Struct, Value};

use crate::error::{invalid, node_type, JsonError, Path};
use crate::number::{number_text, unscaled_bytes};

/// Convert a JSON payload to a Connect value, per `schema` or schemaless.
pub(crate) fn to_connect(
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
pub(crate) fn float(json: &Json) -> Option<f64> {
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
pub(crate) fn decimal(schema: &Schema, json: &Json, path: &Path<'_>) -> Result<Value, JsonError> {
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

/// A schemaless value (`schemas.enable=false`, or a `"schema": null` envelope).
pub(crate) fn schemaless(json: &Json) -> Value {
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
