//! Bytes to a Connect schema and value (`toConnectData`): the envelope, the process-wide cache of
//! parsed schemas, and the fast path for the compact envelope.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::value::RawValue;
use serde_json::Value as Json;
use walcast_connect_api::{SchemaRef, SchemaType, Value};

use crate::error::{JsonError, Path};
use crate::schema::read_schema;
use crate::seed;

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

/// How many distinct schemas the process keeps parsed (a sink task sees a few per topic).
const SCHEMA_CACHE_SIZE: usize = 64;

/// Recently read schemas by their exact JSON text, most recent last. One for the process, not
/// one per thread: records of a table then share one `Arc` whichever thread converted them, so
/// transforms and writers downstream recognise the schema with a pointer compare.
static SCHEMAS: Mutex<Vec<(Box<str>, SchemaRef)>> = Mutex::new(Vec::new());

fn schemas() -> MutexGuard<'static, Vec<(Box<str>, SchemaRef)>> {
    SCHEMAS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The schema of this JSON text, parsed once and shared (the same `Arc`) by every record that
/// repeats it.
fn cached_schema(text: &str) -> Result<SchemaRef, JsonError> {
    {
        let mut c = schemas();
        if let Some(i) = c.iter().rposition(|(t, _)| &**t == text) {
            let entry = c.remove(i);
            let schema = Arc::clone(&entry.1);
            c.push(entry);
            return Ok(schema);
        }
    }
    let json: Json = serde_json::from_str(text).map_err(|e| JsonError::Syntax(e.to_string()))?;
    let schema = Arc::new(read_schema(&json, &Path::Root("schema"))?);
    let mut c = schemas();
    // Another thread may have parsed the same text meanwhile: keep the first `Arc`.
    if let Some((_, s)) = c.iter().rev().find(|(t, _)| &**t == text) {
        return Ok(Arc::clone(s));
    }
    if c.len() >= SCHEMA_CACHE_SIZE {
        c.remove(0);
    }
    c.push((text.into(), Arc::clone(&schema)));
    Ok(schema)
}

/// The fast path for the envelope exactly as JsonConverter and walcast's source write it,
/// `{"schema":<S>,"payload":<P>}` with no whitespace, when `<S>` is a schema the process has
/// already read: the schema text is compared byte for byte instead of being scanned as JSON,
/// and only `<P>` is parsed. Since `<S>` was valid JSON when it was cached, the bytes are a
/// valid two-member envelope exactly when `<P>` parses as one JSON value. `None` sends the
/// bytes to the general path (which also produces the precise errors).
fn read_compact(
    bytes: &[u8],
    keep: Option<&[&str]>,
) -> Option<Result<(Option<SchemaRef>, Value), JsonError>> {
    const HEAD: &[u8] = b"{\"schema\":";
    const MID: &[u8] = b",\"payload\":";
    let rest = bytes.strip_prefix(HEAD)?;
    let (schema, after_schema) = if let Some(after) = rest.strip_prefix(b"null") {
        (None, after)
    } else {
        schemas().iter().rev().find_map(|(text, schema)| {
            let after = rest.strip_prefix(text.as_bytes())?;
            after
                .starts_with(MID)
                .then(|| (Some(Arc::clone(schema)), after))
        })?
    };
    let payload = after_schema
        .strip_prefix(MID)?
        .trim_ascii_end()
        .strip_suffix(b"}")?;
    match seed::read_payload(
        schema.as_ref(),
        payload,
        envelope_keep(schema.as_ref(), keep),
    ) {
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
    read_projected(bytes, schemas_enable, None)
}

/// Whether a schema is a Debezium change event envelope's (a struct with `before`, `after`,
/// `source` and `op`).
fn is_envelope(schema: &SchemaRef) -> bool {
    schema.kind == SchemaType::Struct
        && ["before", "after", "source", "op"]
            .iter()
            .all(|n| schema.fields.iter().any(|f| f.name == *n))
}

/// `keep` when the value is a Debezium envelope, else nothing to leave out.
fn envelope_keep<'k>(
    schema: Option<&SchemaRef>,
    keep: Option<&'k [&'k str]>,
) -> Option<&'k [&'k str]> {
    keep.filter(|_| schema.is_some_and(is_envelope))
}

/// [`read`], building only the `keep` fields of a value that is a Debezium change event
/// envelope with a schema (the others read as nulls; they are still parsed, so the bytes must
/// be JSON, but not checked against their schema). For a sink whose first transform reads only
/// those fields ([`walcast_connect_api::Transformation::envelope_fields`]). Any other value is
/// read whole.
pub fn read_projected(
    bytes: Option<&[u8]>,
    schemas_enable: bool,
    keep: Option<&[&str]>,
) -> Result<(Option<SchemaRef>, Value), JsonError> {
    let bytes = match bytes {
        None | Some([]) => return Ok((None, Value::Null)),
        Some(b) => b,
    };
    if !schemas_enable {
        return Ok((None, seed::read_payload(None, bytes, None)?));
    }
    if let Some(read) = read_compact(bytes, keep) {
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
    let value = seed::read_payload(
        schema.as_ref(),
        payload_raw.get().as_bytes(),
        envelope_keep(schema.as_ref(), keep),
    )?;
    Ok((schema, value))
}
