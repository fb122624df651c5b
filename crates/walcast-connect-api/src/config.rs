//! Configuration keys declared once, like Connect's `ConfigDef`: each connector and transform
//! lists its keys as [`ConfigKeyDef`]s; parsing ([`ConfigValues`]), defaults, the REST
//! validate endpoint, unknown-key warnings with "did you mean" ([`did_you_mean`]) and the
//! README's configuration tables ([`docs_markdown`]) all read that one list.

use std::collections::BTreeMap;

/// Connect's `Importance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    High,
    Medium,
    Low,
}

impl Importance {
    pub fn as_str(self) -> &'static str {
        match self {
            Importance::High => "HIGH",
            Importance::Medium => "MEDIUM",
            Importance::Low => "LOW",
        }
    }
}

/// One configuration key a connector or transform understands.
#[derive(Debug, Clone)]
pub struct ConfigKeyDef {
    pub name: &'static str,
    /// Connect's type names: `STRING`, `INT`, `LONG`, `DOUBLE`, `BOOLEAN`, `LIST`, `PASSWORD`,
    /// `CLASS`.
    pub kind: &'static str,
    pub required: bool,
    pub default: Option<&'static str>,
    pub doc: &'static str,
    pub importance: Importance,
    /// Connect's group name (`Connection`, `Writes`...), for the docs and the validate body.
    pub group: &'static str,
    /// Allowed values (case-insensitive); empty for any value of the type.
    pub valid: &'static [&'static str],
}

impl ConfigKeyDef {
    /// A base for struct-update syntax in `static` tables:
    /// `ConfigKeyDef { name: "x", doc: "...", ..ConfigKeyDef::BASE }`.
    pub const BASE: ConfigKeyDef = ConfigKeyDef {
        name: "",
        kind: "STRING",
        required: false,
        default: None,
        doc: "",
        importance: Importance::Medium,
        group: "",
        valid: &[],
    };
}

/// A problem with one key of a submitted configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    pub key: String,
    pub message: String,
}

impl ConfigIssue {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Splits a list value on commas, the one list syntax of walcast: items are trimmed, empty
/// items dropped, and `\,` stands for a literal comma inside an item (Debezium's rule for regex
/// lists such as `table.include.list`; Connect's plain lists never contain one).
pub fn split_list(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                cur.push(',');
                chars.next();
            }
            ',' => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Edit distance, for "did you mean" suggestions.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known key closest to `key`, when it is close enough to be a typo.
pub fn did_you_mean<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (key.len() / 4).clamp(1, 3);
    known
        .into_iter()
        .map(|k| (levenshtein(key, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// A config read against its definitions: defaults applied, types checked.
#[derive(Debug, Clone)]
pub struct ConfigValues<'a> {
    defs: &'a [ConfigKeyDef],
    raw: &'a BTreeMap<String, String>,
}

impl<'a> ConfigValues<'a> {
    /// Check every defined key of `raw` (required present, type, allowed values) and return
    /// a reader, or every problem found.
    pub fn parse(
        defs: &'a [ConfigKeyDef],
        raw: &'a BTreeMap<String, String>,
    ) -> Result<Self, Vec<ConfigIssue>> {
        let issues = validate(defs, raw);
        if issues.is_empty() {
            Ok(Self { defs, raw })
        } else {
            Err(issues)
        }
    }

    fn def(&self, name: &str) -> Option<&ConfigKeyDef> {
        self.defs.iter().find(|d| d.name == name)
    }

    /// The value of `name`: the config's, else the declared default.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        match self.raw.get(name) {
            Some(v) => Some(v.as_str()),
            None => self
                .defs
                .iter()
                .find(|d| d.name == name)
                .and_then(|d| d.default),
        }
    }

    /// A string value; empty when unset with no default.
    pub fn string(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_string()
    }

    /// An optional string value (unset or blank is `None`).
    pub fn opt_string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// A numeric value (validated by `parse`; 0 if the definition is missing).
    pub fn i64(&self, name: &str) -> i64 {
        self.get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn bool(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name).map(split_list).unwrap_or_default()
    }

    /// A value restricted to `valid`, lower-cased.
    pub fn choice(&self, name: &str) -> String {
        self.string(name).to_ascii_lowercase()
    }

    /// Whether the config sets `name` explicitly.
    pub fn is_set(&self, name: &str) -> bool {
        self.raw.contains_key(name) && self.def(name).is_some()
    }
}

/// Check the defined keys of `raw`: required ones present, values of the declared type and
/// among the allowed values.
pub fn validate(defs: &[ConfigKeyDef], raw: &BTreeMap<String, String>) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    for d in defs {
        let Some(v) = raw.get(d.name) else {
            if d.required && d.default.is_none() {
                issues.push(ConfigIssue::new(
                    d.name,
                    format!(
                        "Missing required configuration \"{}\" which has no default value.",
                        d.name
                    ),
                ));
            }
            continue;
        };
        let t = v.trim();
        let bad_type = match d.kind {
            "INT" | "SHORT" => t.parse::<i32>().is_err(),
            "LONG" => t.parse::<i64>().is_err(),
            "DOUBLE" => t.parse::<f64>().is_err(),
            "BOOLEAN" => !(t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false")),
            _ => false,
        };
        if bad_type {
            issues.push(ConfigIssue::new(
                d.name,
                format!(
                    "Invalid value {v} for configuration {}: Not a {}",
                    d.name,
                    d.kind.to_ascii_lowercase()
                ),
            ));
            continue;
        }
        if !d.valid.is_empty() && (!t.is_empty() || d.required) {
            let ok = if d.kind == "LIST" {
                split_list(t)
                    .iter()
                    .all(|i| d.valid.iter().any(|a| a.eq_ignore_ascii_case(i)))
            } else {
                d.valid.iter().any(|a| a.eq_ignore_ascii_case(t))
            };
            if !ok {
                issues.push(ConfigIssue::new(
                    d.name,
                    format!(
                        "Invalid value {v} for configuration {}: must be one of {}",
                        d.name,
                        d.valid.join(", ")
                    ),
                ));
            }
        }
    }
    issues
}

/// A Markdown table of the keys (for `walcast config-docs` and the README).
pub fn docs_markdown(defs: &[ConfigKeyDef]) -> String {
    let mut s = String::from(
        "| key | type | default | importance | description |\n|---|---|---|---|---|\n",
    );
    for d in defs {
        let default = match (d.default, d.required) {
            (Some(""), _) => "\"\"".to_string(),
            (Some(v), _) => format!("`{v}`"),
            (None, true) => "required".to_string(),
            (None, false) => "—".to_string(),
        };
        let mut doc = d.doc.replace('|', "\\|").replace('\n', " ");
        if !d.valid.is_empty() {
            doc.push_str(&format!(" One of: {}.", d.valid.join(", ")));
        }
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            d.name,
            d.kind,
            default,
            d.importance.as_str().to_ascii_lowercase(),
            doc
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_like_debezium() {
        assert_eq!(split_list(" a, b ,,c"), ["a", "b", "c"]);
        assert_eq!(split_list(r"x\,y,z"), ["x,y", "z"]);
        assert!(split_list("").is_empty());
    }

    #[test]
    fn suggestions() {
        let known = ["database.hostname", "table.include.list"];
        assert_eq!(
            did_you_mean("databse.hostname", known),
            Some("database.hostname")
        );
        assert_eq!(
            did_you_mean("table.includ.list", known),
            Some("table.include.list")
        );
        assert_eq!(did_you_mean("snapshot.mode", known), None);
    }

    #[test]
    fn validation_and_defaults() {
        const DEFS: &[ConfigKeyDef] = &[
            ConfigKeyDef {
                name: "a",
                kind: "INT",
                default: Some("5"),
                ..ConfigKeyDef::BASE
            },
            ConfigKeyDef {
                name: "m",
                valid: &["insert", "upsert"],
                default: Some("insert"),
                ..ConfigKeyDef::BASE
            },
            ConfigKeyDef {
                name: "r",
                required: true,
                ..ConfigKeyDef::BASE
            },
        ];
        let mut raw = BTreeMap::new();
        raw.insert("a".to_string(), "x".to_string());
        raw.insert("m".to_string(), "merge".to_string());
        let issues = validate(DEFS, &raw);
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["a", "m", "r"]);
        let mut raw = BTreeMap::new();
        raw.insert("r".to_string(), "v".to_string());
        raw.insert("m".to_string(), "UPSERT".to_string());
        let c = ConfigValues::parse(DEFS, &raw).expect("valid");
        assert_eq!(c.i64("a"), 5);
        assert_eq!(c.choice("m"), "upsert");
    }
}
