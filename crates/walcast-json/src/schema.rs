//! Reading a schema from its JSON form, as JsonConverter's `asConnectSchema` does.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as Json;
use walcast_connect_api::{Field, Schema, SchemaType};

use crate::error::{invalid, node_type, JsonError, Path};
use crate::tree::to_connect;

/// Read a schema from its JSON form (`asConnectSchema`).
pub fn schema_from_json(json: &Json) -> Result<Schema, JsonError> {
    read_schema(json, &Path::Root("schema"))
}

pub(crate) fn read_schema(json: &Json, path: &Path<'_>) -> Result<Schema, JsonError> {
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
