//! What can be wrong with the bytes, and where: [`JsonError`] and the path inside the document
//! that every message names (never the value itself).

use std::fmt;

use serde_json::Value as Json;

const ENVELOPE_MESSAGE: &str = "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.";

/// Why bytes could not be read as a Connect value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
pub(crate) enum Path<'a> {
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

pub(crate) fn invalid(path: &Path<'_>, message: impl Into<String>) -> JsonError {
    JsonError::Invalid {
        path: path.to_string(),
        message: message.into(),
    }
}

/// What kind of JSON node a value is, for error messages (never its content).
pub(crate) fn node_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
