//! RedisLookup's `key` template: `customer:${customer_id}` parsed once into literals and
//! record field names. In: the template text, then a row (struct or map). Out: the Redis key
//! for that row, or the name of the field it lacks.

use walcast_connect_api::{logical, Schema, Value};

/// `customer:${customer_id}`: literals and record field names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyTemplate {
    pub(crate) text: String,
    parts: Vec<(String, Option<String>)>,
}

impl KeyTemplate {
    /// Parts are `(literal, field after it)`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed placeholder in '{text}': write ${{field}}"))?;
            let name = after[..end].trim();
            if name.is_empty() {
                return Err(format!("empty placeholder ${{}} in '{text}'"));
            }
            if name.contains(':') {
                return Err(format!(
                    "placeholder ${{{name}}} looks like an unresolved config provider reference; key placeholders are record field names such as ${{customer_id}}"
                ));
            }
            parts.push((rest[..start].to_string(), Some(name.to_string())));
            rest = &after[end + 1..];
        }
        parts.push((rest.to_string(), None));
        if !parts.iter().any(|(_, f)| f.is_some()) {
            return Err(format!(
                "'{text}' has no ${{field}} placeholder, so every record would look up the same key; write e.g. customer:${{customer_id}}"
            ));
        }
        Ok(Self {
            text: text.to_string(),
            parts,
        })
    }

    /// The key for a row, or the name of the field the row lacks (or has null, or of a type
    /// that has no text form).
    pub(crate) fn render(&self, row: &Value) -> Result<String, String> {
        let mut out = String::new();
        for (lit, field) in &self.parts {
            out.push_str(lit);
            if let Some(name) = field {
                let text = row
                    .member(name)
                    .and_then(|(s, v)| key_text(s, v))
                    .ok_or_else(|| name.clone())?;
                out.push_str(&text);
            }
        }
        Ok(out)
    }
}

/// A field value as key text: strings as-is, numbers and booleans as text, decimals as
/// `19.99`.
fn key_text(schema: Option<&Schema>, v: &Value) -> Option<String> {
    if let Some(t) = schema.and_then(|s| logical::as_decimal_text(s, v)) {
        return Some(t);
    }
    Some(match v {
        Value::String(s) => s.clone(),
        Value::Boolean(b) => b.to_string(),
        Value::Float32(f) => f.to_string(),
        Value::Float64(f) => f.to_string(),
        other => other.as_i64()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn templates() {
        let t = KeyTemplate::parse("customer:${customer_id}").unwrap();
        let row = Value::Map(vec![(
            Value::String("customer_id".into()),
            Value::String("C1".into()),
        )]);
        assert_eq!(t.render(&row), Ok("customer:C1".into()));
        let none = Value::Map(vec![]);
        assert_eq!(t.render(&none), Err("customer_id".into()));
        assert!(KeyTemplate::parse("customer").is_err());
        assert!(KeyTemplate::parse("${file:/x:y}").is_err());
        assert!(KeyTemplate::parse("a${b").is_err());
    }
}
