//! Config-provider references, the way Kafka Connect resolves them: a value such as
//! `${env:PG_PASSWORD}` or `${file:/run/secrets/pg.properties:password}` is replaced by the
//! secret when the worker starts (worker properties) or a connector starts (connector config),
//! so files and REST bodies only ever hold the reference.
//!
//! Supported providers: `env` (`${env:NAME}`), `file` (`${file:PATH:KEY}`, PATH is a properties
//! file) and `directory` (`${directory:DIR:FILE}`, the value is FILE's content). The reference
//! grammar is Connect's: `${provider:[path:]key}`, split at the first two colons.
//! `config.providers=...` declarations are accepted but not needed: these three always exist.
//!
//! Error messages name the config key and the reference, never the resolved value.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use walcast_connect_api::properties::{self, PropertiesError};

/// Looks up an environment variable. The worker passes the process environment; tests pass a
/// map, so they never mutate the process-wide environment.
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process environment, for callers that have no reason to use anything else.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A `${...}` reference that could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{key}: environment variable {var} referenced as ${{env:{var}}} is not set")]
    EnvNotSet { key: String, var: String },
    #[error("{key}: cannot read {path} referenced by ${{file:...}}: {source}")]
    FileRead {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{key}: {path} referenced by ${{file:...}} is not a valid properties file: {source}")]
    FileParse {
        key: String,
        path: PathBuf,
        #[source]
        source: PropertiesError,
    },
    #[error("{key}: {path} has no key {file_key} (referenced as ${{file:{path}:{file_key}}})")]
    FileKeyMissing {
        key: String,
        path: PathBuf,
        file_key: String,
    },
    #[error("{key}: cannot read {path} referenced by ${{directory:...}}: {source}")]
    DirectoryRead {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{key}: config provider `{provider}` is not supported (walcast supports env, file and directory)"
    )]
    UnknownProvider { key: String, provider: String },
    #[error("{key}: malformed reference {reference} (expected ${{provider:[path:]key}})")]
    Malformed { key: String, reference: String },
}

impl SecretError {
    /// The config key whose value held the reference.
    pub fn key(&self) -> &str {
        match self {
            SecretError::EnvNotSet { key, .. }
            | SecretError::FileRead { key, .. }
            | SecretError::FileParse { key, .. }
            | SecretError::FileKeyMissing { key, .. }
            | SecretError::DirectoryRead { key, .. }
            | SecretError::UnknownProvider { key, .. }
            | SecretError::Malformed { key, .. } => key,
        }
    }
}

/// One parsed `${provider:[path:]key}`.
#[derive(Debug, PartialEq, Eq)]
struct Reference<'a> {
    provider: &'a str,
    path: Option<&'a str>,
    key: &'a str,
}

/// Whether a value contains at least one `${provider:...}` reference.
pub fn has_reference(value: &str) -> bool {
    next_reference(value).is_some()
}

/// Find the next reference: returns (start, end exclusive, parsed). Like Connect's pattern
/// `\$\{([^}]*?):(([^}]*?):)?([^}]*?)\}`: `${` then anything without `}` containing a colon.
fn next_reference(value: &str) -> Option<(usize, usize, Reference<'_>)> {
    let mut from = 0;
    while let Some(rel) = value[from..].find("${") {
        let start = from + rel;
        let body_start = start + 2;
        let close = value[body_start..].find('}')? + body_start;
        let body = &value[body_start..close];
        if let Some((provider, rest)) = body.split_once(':') {
            let (path, key) = match rest.split_once(':') {
                Some((path, key)) => (Some(path), key),
                None => (None, rest),
            };
            return Some((
                start,
                close + 1,
                Reference {
                    provider,
                    path,
                    key,
                },
            ));
        }
        from = body_start;
    }
    None
}

/// Resolves references, caching each `${file:...}` file so a config that takes five keys from
/// one file reads it once.
pub struct Resolver<'a> {
    env: EnvLookup<'a>,
    files: HashMap<PathBuf, BTreeMap<String, String>>,
}

impl<'a> Resolver<'a> {
    pub fn new(env: EnvLookup<'a>) -> Self {
        Self {
            env,
            files: HashMap::new(),
        }
    }

    /// Resolve every reference in `value` (the value of config `key`).
    pub fn resolve_value(&mut self, key: &str, value: &str) -> Result<String, SecretError> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some((start, end, reference)) = next_reference(rest) {
            out.push_str(&rest[..start]);
            out.push_str(&self.lookup(key, &rest[start..end], &reference)?);
            rest = &rest[end..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Resolve every value of a config map.
    pub fn resolve_map(
        &mut self,
        config: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, SecretError> {
        config
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.resolve_value(k, v)?)))
            .collect()
    }

    fn lookup(
        &mut self,
        key: &str,
        text: &str,
        reference: &Reference<'_>,
    ) -> Result<String, SecretError> {
        let malformed = || SecretError::Malformed {
            key: key.to_owned(),
            reference: text.to_owned(),
        };
        match reference.provider {
            "env" => {
                // Connect's EnvVarConfigProvider takes no path: `${env:NAME}`.
                if reference.path.is_some_and(|p| !p.is_empty()) || reference.key.is_empty() {
                    return Err(malformed());
                }
                (self.env)(reference.key).ok_or_else(|| SecretError::EnvNotSet {
                    key: key.to_owned(),
                    var: reference.key.to_owned(),
                })
            }
            "file" => {
                let path = PathBuf::from(
                    reference
                        .path
                        .filter(|p| !p.is_empty())
                        .ok_or_else(malformed)?,
                );
                if !self.files.contains_key(&path) {
                    let bytes = std::fs::read(&path).map_err(|source| SecretError::FileRead {
                        key: key.to_owned(),
                        path: path.clone(),
                        source,
                    })?;
                    let map = properties::parse_map(&properties::decode_bytes(&bytes)).map_err(
                        |source| SecretError::FileParse {
                            key: key.to_owned(),
                            path: path.clone(),
                            source,
                        },
                    )?;
                    self.files.insert(path.clone(), map);
                }
                self.files
                    .get(&path)
                    .and_then(|m| m.get(reference.key))
                    .cloned()
                    .ok_or_else(|| SecretError::FileKeyMissing {
                        key: key.to_owned(),
                        path,
                        file_key: reference.key.to_owned(),
                    })
            }
            "directory" => {
                let dir = reference
                    .path
                    .filter(|p| !p.is_empty())
                    .ok_or_else(malformed)?;
                // The key names a file directly inside the directory, never a path elsewhere.
                if reference.key.is_empty() || reference.key.contains('/') || reference.key == ".."
                {
                    return Err(malformed());
                }
                let path = PathBuf::from(dir).join(reference.key);
                std::fs::read(&path)
                    .map(|b| properties::decode_bytes(&b))
                    .map_err(|source| SecretError::DirectoryRead {
                        key: key.to_owned(),
                        path,
                        source,
                    })
            }
            other => Err(SecretError::UnknownProvider {
                key: key.to_owned(),
                provider: other.to_owned(),
            }),
        }
    }
}

/// Resolve a whole config with the given environment.
pub fn resolve_config(
    config: &BTreeMap<String, String>,
    env: EnvLookup<'_>,
) -> Result<BTreeMap<String, String>, SecretError> {
    Resolver::new(env).resolve_map(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env_of(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> + Sync {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn env_reference_is_replaced_inside_text() {
        let env = env_of(&[("PGPASS", "s3cret"), ("HOST", "db")]);
        let mut r = Resolver::new(&env);
        assert_eq!(
            r.resolve_value("k", "${env:PGPASS}").expect("resolves"),
            "s3cret"
        );
        assert_eq!(
            r.resolve_value(
                "url",
                "jdbc:postgresql://${env:HOST}:5432/x?password=${env:PGPASS}"
            )
            .expect("resolves"),
            "jdbc:postgresql://db:5432/x?password=s3cret"
        );
    }

    #[test]
    fn text_without_references_is_untouched() {
        let env = env_of(&[]);
        let mut r = Resolver::new(&env);
        for v in ["plain", "${topic}", "$x{y:z}", "${unterminated:x", "a}b${"] {
            assert_eq!(r.resolve_value("k", v).expect("no reference"), v);
        }
    }

    #[test]
    fn missing_env_var_names_key_and_var_but_not_values() {
        let env = env_of(&[]);
        let err = Resolver::new(&env)
            .resolve_value("database.password", "${env:NOPE}")
            .expect_err("unset var must fail");
        let msg = err.to_string();
        assert!(
            msg.contains("database.password") && msg.contains("NOPE"),
            "{msg}"
        );
        assert_eq!(err.key(), "database.password");
    }

    #[test]
    fn file_reference_reads_properties_file() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(f, "# secrets\npassword = hunter2\nuser: alice").expect("write");
        let path = f.path().display().to_string();
        let env = env_of(&[]);
        let mut r = Resolver::new(&env);
        assert_eq!(
            r.resolve_value("database.password", &format!("${{file:{path}:password}}"))
                .expect("resolves"),
            "hunter2"
        );
        assert_eq!(
            r.resolve_value("database.user", &format!("${{file:{path}:user}}"))
                .expect("resolves"),
            "alice"
        );
        let err = r
            .resolve_value("x", &format!("${{file:{path}:missing}}"))
            .expect_err("missing key must fail");
        assert!(matches!(err, SecretError::FileKeyMissing { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn missing_file_is_an_error() {
        let env = env_of(&[]);
        let err = Resolver::new(&env)
            .resolve_value("k", "${file:/nonexistent/walcast/secret.properties:k}")
            .expect_err("must fail");
        assert!(matches!(err, SecretError::FileRead { .. }), "{err}");
    }

    #[test]
    fn directory_reference_reads_file_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("pg_password"), "pw-from-dir").expect("write");
        let env = env_of(&[]);
        let v = Resolver::new(&env)
            .resolve_value(
                "k",
                &format!("${{directory:{}:pg_password}}", dir.path().display()),
            )
            .expect("resolves");
        assert_eq!(v, "pw-from-dir");
    }

    #[test]
    fn unknown_provider_and_malformed_references_fail() {
        let env = env_of(&[("A", "1")]);
        let mut r = Resolver::new(&env);
        assert!(matches!(
            r.resolve_value("k", "${vault:secret/db:password}"),
            Err(SecretError::UnknownProvider { .. })
        ));
        assert!(matches!(
            r.resolve_value("k", "${env:}"),
            Err(SecretError::Malformed { .. })
        ));
        assert!(matches!(
            r.resolve_value("k", "${file:onlykey}"),
            Err(SecretError::Malformed { .. })
        ));
    }

    #[test]
    fn connect_splits_path_at_first_colon_after_provider() {
        let (_, _, r) = next_reference("${file:/a:b:c}").expect("reference");
        assert_eq!(
            r,
            Reference {
                provider: "file",
                path: Some("/a"),
                key: "b:c"
            }
        );
    }
}
