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
    #[cfg(test)]
    pub(crate) fn render(&self, row: &Value) -> Result<String, String> {
        let mut out = String::new();
        self.render_into(row, &mut out)
            .map(|()| out)
            .map_err(str::to_owned)
    }

    /// [`KeyTemplate::render`] into `out` (cleared first), so one buffer serves every record.
    pub(crate) fn render_into<'t>(&'t self, row: &Value, out: &mut String) -> Result<(), &'t str> {
        out.clear();
        for (lit, field) in &self.parts {
            out.push_str(lit);
            if let Some(name) = field {
                let ok = row
                    .member(name)
                    .is_some_and(|(schema, v)| push_key_text(out, schema, v));
                if !ok {
                    return Err(name);
                }
            }
        }
        Ok(())
    }
}

/// Appends a field value as key text: strings as-is, numbers and booleans as text, decimals as
/// `19.99`. `false` for a null or a type with no text form.
fn push_key_text(out: &mut String, schema: Option<&Schema>, v: &Value) -> bool {
    use std::fmt::Write;
    if let Some(t) = schema.and_then(|s| logical::as_decimal_text(s, v)) {
        out.push_str(&t);
        return true;
    }
    match v {
        Value::String(s) => out.push_str(s),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Float32(f) => {
            let _ = write!(out, "{f}");
        }
        Value::Float64(f) => {
            let _ = write!(out, "{f}");
        }
        other => match other.as_i64() {
            Some(i) => {
                let _ = write!(out, "{i}");
            }
            None => return false,
        },
    }
    true
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
