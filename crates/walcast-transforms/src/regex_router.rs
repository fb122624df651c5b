//! `org.apache.kafka.connect.transforms.RegexRouter`: when the whole topic name matches
//! `regex`, the topic becomes `replacement` with Java's `$1`/`${name}` group references.

use regex::Regex;
use walcast_connect_api::ConfigKeyDef;
use walcast_connect_api::{
    ConfigIssue, ConnectRecord, ConnectorConfig, TransformError, Transformation,
};

use crate::predicates::full_match_regex;
use crate::read_config;

pub(crate) const KEYS: &[ConfigKeyDef] = &[
    ConfigKeyDef {
        name: "regex",
        required: true,
        doc: "Regular expression to use for matching.",
        importance: walcast_connect_api::Importance::High,
        ..ConfigKeyDef::BASE
    },
    ConfigKeyDef {
        name: "replacement",
        required: true,
        doc: "Replacement string.",
        importance: walcast_connect_api::Importance::High,
        ..ConfigKeyDef::BASE
    },
];

struct RegexRouter {
    regex: Regex,
    /// The replacement in the `regex` crate's syntax.
    replacement: String,
}

/// Java's `Matcher.replaceFirst` syntax (`$1`, `${name}`, `\$` for a literal dollar) to the
/// `regex` crate's (`${1}`, `${name}`, `$$`).
pub(crate) fn java_replacement(java: &str) -> Result<String, String> {
    let mut out = String::with_capacity(java.len() + 4);
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => return Err("character to be escaped is missing".into()),
            },
            '$' => {
                if chars.peek() == Some(&'{') {
                    chars.next();
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(ch) if ch.is_ascii_alphanumeric() => name.push(ch),
                            _ => return Err("named capturing group is missing trailing '}'".into()),
                        }
                    }
                    if name.is_empty() {
                        return Err("named capturing group has 0 length name".into());
                    }
                    out.push_str(&format!("${{{name}}}"));
                } else {
                    let mut digits = String::new();
                    while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        digits.push(*d);
                        chars.next();
                    }
                    if digits.is_empty() {
                        return Err("Illegal group reference".into());
                    }
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

pub(crate) fn build(own: &ConnectorConfig) -> Result<Box<dyn Transformation>, Vec<ConfigIssue>> {
    let (values, mut issues) = read_config(own, KEYS)?;
    let regex = full_match_regex("regex", values.get("regex").unwrap_or_default())
        .map_err(|i| issues.push(i))
        .ok();
    let replacement = java_replacement(values.get("replacement").unwrap_or_default())
        .map_err(|e| {
            issues.push(ConfigIssue::new(
                "replacement",
                format!("Invalid replacement: {e}"),
            ))
        })
        .ok();
    if let (Some(regex), Some(replacement)) = (&regex, &replacement) {
        // A group the regex does not have would silently expand to nothing; Java throws.
        for caps in regex::Regex::new(r"\$\{(\w+)\}")
            .ok()
            .iter()
            .flat_map(|r| r.captures_iter(replacement).collect::<Vec<_>>())
        {
            let g = &caps[1];
            let known = match g.parse::<usize>() {
                Ok(n) => n < regex.captures_len(),
                Err(_) => regex.capture_names().flatten().any(|n| n == g),
            };
            if !known {
                issues.push(ConfigIssue::new(
                    "replacement",
                    format!("The replacement refers to group {g}, which the regex does not have."),
                ));
            }
        }
    }
    match (regex, replacement, issues.is_empty()) {
        (Some(regex), Some(replacement), true) => Ok(Box::new(RegexRouter { regex, replacement })),
        _ => Err(issues),
    }
}

impl Transformation for RegexRouter {
    fn apply(
        &mut self,
        mut record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, TransformError> {
        if self.regex.is_match(&record.topic) {
            record.topic = self
                .regex
                .replace(&record.topic, self.replacement.as_str())
                .into_owned();
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn replacements() {
        assert_eq!(java_replacement("$1_$2x").unwrap(), "${1}_${2}x");
        assert_eq!(java_replacement(r"a\$b${n}").unwrap(), "a$$b${n}");
        assert!(java_replacement("a$").is_err());
    }
}
