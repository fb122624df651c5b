//! Helpers the type-mapping tests share: a config from a few properties, catalog types, and one
//! text value converted end to end (representation choice, then writer).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use walcast_pgoutput::{PgType, PgTypeKind};

use super::repr::repr_of;
use crate::config::EventConfig;

/// The connector config with `topic.prefix=dbserver1` and these properties.
pub fn cfg(extra: &[(&str, &str)]) -> EventConfig {
    let mut p: BTreeMap<String, String> = BTreeMap::new();
    p.insert("topic.prefix".into(), "dbserver1".into());
    for (k, v) in extra {
        p.insert(k.to_string(), v.to_string());
    }
    EventConfig::from_properties(&p, true, true).unwrap()
}

/// A `pg_catalog` base type.
pub fn base(name: &str) -> PgType {
    PgType {
        oid: 0,
        schema: "pg_catalog".into(),
        name: name.into(),
        kind: PgTypeKind::Base,
    }
}

/// The array type of `elem`.
pub fn arr(elem: PgType) -> PgType {
    PgType {
        oid: 0,
        schema: "pg_catalog".into(),
        name: format!("_{}", elem.name),
        kind: PgTypeKind::Array {
            element: Box::new(elem),
        },
    }
}

/// The JSON a text value of this type becomes.
pub fn conv(ty: &PgType, typmod: i32, c: &EventConfig, text: &str) -> String {
    let r = repr_of(ty, typmod, c).expect("mapped");
    let mut out = Vec::new();
    r.write(text.as_bytes(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The type modifier of `numeric(p,s)`.
pub fn numeric_typmod_of(p: i32, s: i32) -> i32 {
    ((p << 16) | s) + 4
}
