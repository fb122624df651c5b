//! Keeping secrets out of logs. Connect prints configs at INFO with passwords as `[hidden]`;
//! walcast does the same, and also masks credentials embedded in URLs
//! (`postgres://user:pass@host`, `jdbc:...?password=...`, libpq `password=...`), which
//! Connect does not, because a JDBC sink's `connection.url` often carries them.
//!
//! Values resolved from config providers (`${env:..}`, `${file:..}`, `${directory:..}`) are
//! remembered here ([`remember_secret`]) and removed from any text that leaves the process:
//! task traces and REST error messages call [`scrub`], and log lines pass through
//! [`ScrubbingWriter`]. That covers a value that ends up in an error message because it was put
//! where it does not belong (`"database.hostname": "${env:AWS_SECRET_ACCESS_KEY}"`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{PoisonError, RwLock};

/// What a hidden value is printed as (Connect's marker).
pub const HIDDEN: &str = "[hidden]";

/// Whether a config key holds a secret by its name alone.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.ends_with("password")
        || k.ends_with("passwd")
        || k.ends_with("secret")
        || k.ends_with("token")
        || k.ends_with("credentials")
        || k.ends_with("sasl.jaas.config")
}

/// Mask credentials inside a value: the password of `scheme://user:password@host` and any
/// `password=...` / `pwd=...` parameter (URL query, JDBC properties or libpq conninfo).
pub fn redact_credentials(value: &str) -> String {
    let mut out = mask_userinfo(value);
    for param in ["password=", "pwd="] {
        out = mask_param(&out, param);
    }
    out
}

/// The value as it may appear in a log line.
pub fn redact_value(key: &str, value: &str) -> String {
    if is_secret_key(key) {
        HIDDEN.to_owned()
    } else {
        redact_credentials(value)
    }
}

/// A config rendered for logs, `{k=v, ...}` with secrets hidden. `secret_keys` adds keys a
/// plugin declares as PASSWORD even when their name does not say so.
pub fn redact_config(config: &BTreeMap<String, String>, secret_keys: &[&str]) -> String {
    let parts: Vec<String> = config
        .iter()
        .map(|(k, v)| {
            if secret_keys.contains(&k.as_str()) {
                format!("{k}={HIDDEN}")
            } else {
                format!("{k}={}", redact_value(k, v))
            }
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Resolved values shorter than this are not scrubbed from free text: hiding every `1` or `on`
/// in every log line would make logs unreadable, and such values are not secrets.
pub const MIN_SCRUBBED_LEN: usize = 4;

/// Every resolved provider value (and its JSON-escaped form) seen by this process. Only grows:
/// the set of secrets a worker can read is finite, and a rotated secret stays hidden.
static SECRETS: RwLock<BTreeSet<String>> = RwLock::new(BTreeSet::new());

/// Remember a value resolved from a config provider, so [`scrub`] hides it from now on.
pub fn remember_secret(value: &str) {
    if value.chars().count() < MIN_SCRUBBED_LEN {
        return;
    }
    let escaped = serde_json::to_string(value).unwrap_or_default();
    let escaped = escaped
        .strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .unwrap_or_default();
    let known = SECRETS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(value);
    if known {
        return;
    }
    let mut set = SECRETS.write().unwrap_or_else(PoisonError::into_inner);
    set.insert(value.to_owned());
    if escaped != value && escaped.len() >= MIN_SCRUBBED_LEN {
        set.insert(escaped.to_owned());
    }
}

/// `text` with every remembered secret replaced by [`HIDDEN`]. Longer secrets first, so a
/// secret that contains another is hidden whole.
pub fn scrub(text: &str) -> String {
    let set = SECRETS.read().unwrap_or_else(PoisonError::into_inner);
    if set.is_empty() || !set.iter().any(|s| text.contains(s.as_str())) {
        return text.to_owned();
    }
    let mut secrets: Vec<&String> = set.iter().collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_owned();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), HIDDEN);
        }
    }
    out
}

/// A log writer that [`scrub`]s what it writes. tracing-subscriber's fmt layer writes each
/// event with one `write_all` of the whole formatted line, so a secret is never split across
/// calls. Use it as `.with_writer(|| ScrubbingWriter(std::io::stderr()))`.
pub struct ScrubbingWriter<W: Write>(pub W);

impl<W: Write> Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(scrub(text).as_bytes())?,
            Err(_) => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn mask_userinfo(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find("://") {
        let authority_start = pos + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(user);
                        out.push_str(":****");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

fn mask_param(value: &str, param: &str) -> String {
    let lower = value.to_ascii_lowercase();
    let mut out = String::with_capacity(value.len());
    let mut last = 0;
    let mut search = 0;
    while let Some(rel) = lower[search..].find(param) {
        let start = search + rel;
        // Only a parameter name, not the tail of a longer word (`xpassword=`).
        let at_boundary = start == 0
            || !lower[..start]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        let value_start = start + param.len();
        if !at_boundary {
            search = value_start;
            continue;
        }
        let value_end = value[value_start..]
            .find(['&', ';', ' ', '\t', '\n', ',', ')'])
            .map_or(value.len(), |e| value_start + e);
        out.push_str(&value[last..value_start]);
        out.push_str("****");
        last = value_end;
        search = value_end;
    }
    out.push_str(&value[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_by_name() {
        for k in [
            "database.password",
            "connection.password",
            "ssl.keystore.password",
            "sasl.jaas.config",
            "producer.sasl.jaas.config",
            "DATABASE.PASSWORD",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "database.user",
            "connection.url",
            "password.file.dir",
            "topic.prefix",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn url_userinfo_password_is_masked() {
        assert_eq!(
            redact_credentials("postgres://alice:s3cret@db:5432/app?sslmode=require"),
            "postgres://alice:****@db:5432/app?sslmode=require"
        );
        assert_eq!(
            redact_credentials("jdbc:postgresql://bob:p%40ss@h/db"),
            "jdbc:postgresql://bob:****@h/db"
        );
        // No password part: nothing to hide.
        assert_eq!(
            redact_credentials("http://user@host/x"),
            "http://user@host/x"
        );
        assert_eq!(redact_credentials("kafka:9092"), "kafka:9092");
    }

    #[test]
    fn password_parameters_are_masked() {
        assert_eq!(
            redact_credentials("jdbc:postgresql://h:5432/db?user=app&password=s3cret&ssl=true"),
            "jdbc:postgresql://h:5432/db?user=app&password=****&ssl=true"
        );
        assert_eq!(
            redact_credentials("host=db user=app PASSWORD=s3cret dbname=x"),
            "host=db user=app PASSWORD=**** dbname=x"
        );
        assert_eq!(
            redact_credentials("jdbc:sqlserver://h;user=a;pwd=s3cret;db=x"),
            "jdbc:sqlserver://h;user=a;pwd=****;db=x"
        );
        assert_eq!(
            redact_credentials("mypassword=visible"),
            "mypassword=visible"
        );
    }

    #[test]
    fn remembered_secrets_are_scrubbed_from_text_and_log_lines() {
        remember_secret("Unit-Test-Secret\"quoted");
        remember_secret("ab");
        let text =
            "connect to Unit-Test-Secret\"quoted failed; json: \"Unit-Test-Secret\\\"quoted\"; ab";
        let scrubbed = scrub(text);
        assert!(!scrubbed.contains("Unit-Test-Secret"), "{scrubbed}");
        assert!(scrubbed.ends_with("; ab"), "short values stay: {scrubbed}");
        let mut out = Vec::new();
        ScrubbingWriter(&mut out)
            .write_all(text.as_bytes())
            .expect("write");
        let logged = String::from_utf8(out).expect("utf-8");
        assert_eq!(logged, scrubbed);
    }

    #[test]
    fn config_rendering_hides_secrets() {
        let mut c = BTreeMap::new();
        c.insert("database.password".to_owned(), "s3cret".to_owned());
        c.insert(
            "connection.url".to_owned(),
            "postgres://u:s3cret@h/db".to_owned(),
        );
        c.insert("api.thing".to_owned(), "s3cret".to_owned());
        c.insert("database.user".to_owned(), "u".to_owned());
        let rendered = redact_config(&c, &["api.thing"]);
        assert!(!rendered.contains("s3cret"), "{rendered}");
        assert!(rendered.contains("database.user=u"), "{rendered}");
        assert!(
            rendered.contains("database.password=[hidden]"),
            "{rendered}"
        );
    }
}
