//! `redis.key` templates: literal text with `${topic}` (the Redis Kafka Connect sink's token for
//! the record's topic) and walcast's `${field}` placeholders (a field of the record's value, then
//! of its key). Placeholders are never config-provider references: those contain a colon
//! (`${file:/path:key}`) and are resolved by the worker before the connector sees its config.

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    /// `${topic}`.
    Topic,
    /// `${name}`: a record field.
    Field(String),
}

/// A parsed `redis.key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

impl Template {
    /// Parse `text`; the error says what is wrong with it (without echoing secrets: templates
    /// hold none).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!(
                    "unclosed placeholder in '{text}': write ${{field}} with a closing brace"
                ));
            };
            let name = after[..end].trim();
            if name.is_empty() {
                return Err(format!("empty placeholder ${{}} in '{text}'"));
            }
            if name.contains(':') {
                return Err(format!(
                    "placeholder ${{{name}}} in '{text}' looks like an unresolved config provider reference; record field placeholders are plain field names such as ${{id}}"
                ));
            }
            parts.push(if name == "topic" {
                Part::Topic
            } else {
                Part::Field(name.to_string())
            });
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// Whether any `${field}` placeholder (not `${topic}`) occurs.
    pub fn has_fields(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Field(_)))
    }

    /// The template with `${topic}` replaced and fields looked up by `field`; `Err(name)` for
    /// the first field `field` has no value for.
    pub fn render(
        &self,
        topic: &str,
        mut field: impl FnMut(&str) -> Option<String>,
    ) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Topic => out.push_str(topic),
                Part::Field(name) => match field(name) {
                    Some(v) => out.push_str(&v),
                    None => return Err(name.clone()),
                },
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders() {
        let t = Template::parse("order:${id}").unwrap();
        assert!(t.has_fields());
        assert_eq!(
            t.render("orders", |n| (n == "id").then(|| "7".to_string())),
            Ok("order:7".to_string())
        );
        let t = Template::parse("kafka_${topic}").unwrap();
        assert!(!t.has_fields());
        assert_eq!(t.render("orders", |_| None), Ok("kafka_orders".to_string()));
        let t = Template::parse("${a}-${b}").unwrap();
        assert_eq!(t.render("x", |_| None), Err("a".to_string()));
        assert!(Template::parse("order:${id").is_err());
        assert!(Template::parse("x${}").is_err());
        assert!(Template::parse("${env:HOME}").is_err());
        assert_eq!(Template::parse("").unwrap().parts, vec![]);
    }
}
