//! Kafka Connect schemas as `JsonConverter` writes them (`{"type":...,"optional":...}`), built
//! once per table and rendered to bytes once, so that encoding a row only splices them in.
//!
//! Key order matters for byte-compatibility and follows `JsonConverter.asJsonSchema`: `type`,
//! then `fields` / `items` / `keys`+`values`, `optional`, `name`, `version`, `doc`,
//! `parameters`, `default`, and finally `field` when the schema is a struct field.

use crate::json;

/// A Connect schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectSchema {
    /// `int8`, `int16`, `int32`, `int64`, `float`, `double`, `boolean`, `string`, `bytes`,
    /// `array`, `map` or `struct`.
    pub ty: &'static str,
    pub optional: bool,
    /// Logical type or record name.
    pub name: Option<String>,
    pub version: Option<i32>,
    pub doc: Option<&'static str>,
    /// Schema parameters, in insertion order.
    pub parameters: Vec<(String, String)>,
    /// The default value, already rendered as JSON in this schema's representation.
    pub default: Option<Vec<u8>>,
    /// Struct fields.
    pub fields: Vec<(String, ConnectSchema)>,
    /// Array items.
    pub items: Option<Box<ConnectSchema>>,
    /// Map keys and values.
    pub map: Option<Box<(ConnectSchema, ConnectSchema)>>,
}

impl ConnectSchema {
    /// A primitive schema.
    pub fn primitive(ty: &'static str, optional: bool) -> Self {
        ConnectSchema {
            ty,
            optional,
            name: None,
            version: None,
            doc: None,
            parameters: Vec::new(),
            default: None,
            fields: Vec::new(),
            items: None,
            map: None,
        }
    }

    /// A primitive schema with a logical name and version 1.
    pub fn logical(ty: &'static str, name: &str, optional: bool) -> Self {
        let mut s = Self::primitive(ty, optional);
        s.name = Some(name.to_string());
        s.version = Some(1);
        s
    }

    /// A struct schema.
    pub fn structure(fields: Vec<(String, ConnectSchema)>, optional: bool) -> Self {
        let mut s = Self::primitive("struct", optional);
        s.fields = fields;
        s
    }

    /// An array schema.
    pub fn array(items: ConnectSchema, optional: bool) -> Self {
        let mut s = Self::primitive("array", optional);
        s.items = Some(Box::new(items));
        s
    }

    /// A map schema.
    pub fn map(keys: ConnectSchema, values: ConnectSchema, optional: bool) -> Self {
        let mut s = Self::primitive("map", optional);
        s.map = Some(Box::new((keys, values)));
        s
    }

    /// Adds a parameter.
    pub fn param(mut self, k: &str, v: impl Into<String>) -> Self {
        self.parameters.push((k.to_string(), v.into()));
        self
    }

    /// Appends the schema as JSON; `field` names it as a struct field.
    pub fn render(&self, field: Option<&str>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"type\":");
        json::write_str(out, self.ty);
        if self.ty == "struct" {
            out.extend_from_slice(b",\"fields\":[");
            for (i, (name, f)) in self.fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                f.render(Some(name), out);
            }
            out.push(b']');
        }
        if let Some(items) = &self.items {
            out.extend_from_slice(b",\"items\":");
            items.render(None, out);
        }
        if let Some(kv) = &self.map {
            out.extend_from_slice(b",\"keys\":");
            kv.0.render(None, out);
            out.extend_from_slice(b",\"values\":");
            kv.1.render(None, out);
        }
        out.extend_from_slice(if self.optional {
            b",\"optional\":true"
        } else {
            b",\"optional\":false"
        });
        if let Some(n) = &self.name {
            out.extend_from_slice(b",\"name\":");
            json::write_str(out, n);
        }
        if let Some(v) = self.version {
            out.extend_from_slice(b",\"version\":");
            json::write_i64(out, i64::from(v));
        }
        if let Some(d) = self.doc {
            out.extend_from_slice(b",\"doc\":");
            json::write_str(out, d);
        }
        if !self.parameters.is_empty() {
            out.extend_from_slice(b",\"parameters\":{");
            for (i, (k, v)) in self.parameters.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json::write_key(out, k);
                json::write_str(out, v);
            }
            out.push(b'}');
        }
        if let Some(d) = &self.default {
            out.extend_from_slice(b",\"default\":");
            out.extend_from_slice(d);
        }
        if let Some(f) = field {
            out.extend_from_slice(b",\"field\":");
            json::write_str(out, f);
        }
        out.push(b'}');
    }

    /// The schema rendered to JSON bytes (tests compare whole schemas this way).
    #[cfg(test)]
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.render(None, &mut out);
        out
    }
}

/// `io.debezium.connector.postgresql.Source`, as Debezium 3.6 defines it.
pub fn source_schema() -> ConnectSchema {
    let s = |n: &str, ty, opt| (n.to_string(), ConnectSchema::primitive(ty, opt));
    let mut snapshot = ConnectSchema::logical("string", "io.debezium.data.Enum", true).param(
        "allowed",
        "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental",
    );
    snapshot.default = Some(b"\"false\"".to_vec());
    let mut schema = ConnectSchema::structure(
        vec![
            s("version", "string", false),
            s("connector", "string", false),
            s("name", "string", false),
            s("ts_ms", "int64", false),
            ("snapshot".to_string(), snapshot),
            s("db", "string", false),
            s("sequence", "string", true),
            s("ts_us", "int64", true),
            s("ts_ns", "int64", true),
            s("schema", "string", false),
            s("table", "string", false),
            s("txId", "int64", true),
            s("lsn", "int64", true),
            s("xmin", "int64", true),
            s("origin", "string", true),
            s("origin_lsn", "int64", true),
        ],
        false,
    );
    schema.name = Some("io.debezium.connector.postgresql.Source".into());
    schema.version = Some(1);
    schema
}

/// Debezium's `event.block` transaction metadata struct.
pub fn transaction_schema() -> ConnectSchema {
    let mut t = ConnectSchema::structure(
        vec![
            ("id".into(), ConnectSchema::primitive("string", false)),
            (
                "total_order".into(),
                ConnectSchema::primitive("int64", false),
            ),
            (
                "data_collection_order".into(),
                ConnectSchema::primitive("int64", false),
            ),
        ],
        true,
    );
    t.name = Some("event.block".into());
    t.version = Some(1);
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn source_schema_matches_fixture() {
        let expected = r#"{"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},{"type":"string","optional":false,"field":"connector"},{"type":"string","optional":false,"field":"name"},{"type":"int64","optional":false,"field":"ts_ms"},{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false","field":"snapshot"},{"type":"string","optional":false,"field":"db"},{"type":"string","optional":true,"field":"sequence"},{"type":"int64","optional":true,"field":"ts_us"},{"type":"int64","optional":true,"field":"ts_ns"},{"type":"string","optional":false,"field":"schema"},{"type":"string","optional":false,"field":"table"},{"type":"int64","optional":true,"field":"txId"},{"type":"int64","optional":true,"field":"lsn"},{"type":"int64","optional":true,"field":"xmin"},{"type":"string","optional":true,"field":"origin"},{"type":"int64","optional":true,"field":"origin_lsn"}],"optional":false,"name":"io.debezium.connector.postgresql.Source","version":1,"field":"source"}"#;
        let mut out = Vec::new();
        source_schema().render(Some("source"), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn map_and_array_order() {
        let m = ConnectSchema::map(
            ConnectSchema::primitive("string", false),
            ConnectSchema::primitive("string", true),
            true,
        );
        let mut out = Vec::new();
        m.render(Some("h"), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"string","optional":true},"optional":true,"field":"h"}"#
        );
    }
}
