//! Config-provider references, the way Kafka Connect resolves them: a value such as
//! `${env:PG_PASSWORD}` or `${file:/run/secrets/pg.properties:password}` is replaced by the
//! secret when the worker starts (worker properties) or a connector starts (connector config),
//! so files and REST bodies only ever hold the reference.
//!
//! Providers exist only when the worker properties declare them, as in Connect:
//!
//! ```properties
//! config.providers=env,file,directory
//! config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider
//! config.providers.env.param.allowlist.pattern=^PG.*        # KIP-887, optional
//! config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider
//! config.providers.file.param.allowed.paths=/run/secrets    # KIP-993, optional
//! config.providers.directory.class=org.apache.kafka.common.config.provider.DirectoryConfigProvider
//! config.providers.directory.param.allowed.paths=/run/secrets
//! ```
//!
//! The name before `.class` is the one used in references (`${file:...}`), so any name works.
//! The reference grammar is Connect's: `${provider:[path:]key}`, split at the first two colons.
//!
//! Differences from Connect, on purpose:
//! - A reference to a provider the worker does not declare is an error naming the key (Connect
//!   leaves the text unresolved, so the literal `${env:X}` would become a password and fail
//!   later with a confusing authentication error).
//! - Errors never tell a REST caller whether a file exists: a missing, unreadable or malformed
//!   file, a missing key and a symlink that leaves `allowed.paths` all give the same message;
//!   the reason goes to the worker log. A path outside `allowed.paths` is named as such (that
//!   follows from the configuration alone).
//! - Every resolved value is remembered by [`crate::redact`], which removes it from task
//!   traces, REST error messages and (through [`crate::redact::ScrubbingWriter`]) log lines.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use regex::Regex;
use walcast_connect_api::properties;

use crate::redact;

/// Looks up an environment variable. The worker passes the process environment; tests pass a
/// map, so they never mutate the process-wide environment.
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process environment, for callers that have no reason to use anything else.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Connect's provider classes walcast implements.
pub const ENV_PROVIDER_CLASS: &str = "org.apache.kafka.common.config.provider.EnvVarConfigProvider";
pub const FILE_PROVIDER_CLASS: &str = "org.apache.kafka.common.config.provider.FileConfigProvider";
pub const DIRECTORY_PROVIDER_CLASS: &str =
    "org.apache.kafka.common.config.provider.DirectoryConfigProvider";

/// What a declared provider reads.
#[derive(Debug, Clone)]
enum ProviderKind {
    /// `EnvVarConfigProvider`, with KIP-887's `allowlist.pattern` (full match).
    Env { allowlist: Option<Regex> },
    /// `FileConfigProvider`: `${name:PATH:KEY}`, PATH a properties file.
    File { allowed: Option<Vec<PathBuf>> },
    /// `DirectoryConfigProvider`: `${name:DIR:FILE}`, the value is FILE's content.
    Directory { allowed: Option<Vec<PathBuf>> },
}

/// The providers the worker properties declare (`config.providers=...`). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    by_name: BTreeMap<String, ProviderKind>,
}

/// A `config.providers*` declaration walcast cannot honour. Names the key and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ProviderConfigError {
    pub key: String,
    pub message: String,
}

impl Providers {
    /// No providers: every reference is an error.
    pub fn none() -> Self {
        Self::default()
    }

    /// Read `config.providers`, `config.providers.<name>.class` and
    /// `config.providers.<name>.param.*` from worker properties.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Self, ProviderConfigError> {
        let mut by_name = BTreeMap::new();
        let Some(list) = props.get("config.providers") else {
            return Ok(Self { by_name });
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let class_key = format!("config.providers.{name}.class");
            let class = props
                .get(&class_key)
                .map(|c| c.trim())
                .filter(|c| !c.is_empty())
                .ok_or_else(|| ProviderConfigError {
                    key: class_key.clone(),
                    message: format!(
                        "config.providers lists `{name}` but its class is not set; set it to \
                         {ENV_PROVIDER_CLASS}, {FILE_PROVIDER_CLASS} or {DIRECTORY_PROVIDER_CLASS}"
                    ),
                })?;
            let param = |p: &str| {
                let key = format!("config.providers.{name}.param.{p}");
                props
                    .get(&key)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .map(|v| (key, v))
            };
            let kind = match class.rsplit('.').next().unwrap_or(class) {
                "EnvVarConfigProvider" => {
                    let allowlist = match param("allowlist.pattern") {
                        None => None,
                        Some((key, pattern)) => {
                            Some(Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                                ProviderConfigError {
                                    key,
                                    message: format!("`{pattern}` is not a valid pattern: {e}"),
                                }
                            })?)
                        }
                    };
                    ProviderKind::Env { allowlist }
                }
                "FileConfigProvider" => ProviderKind::File {
                    allowed: allowed_paths(param("allowed.paths"))?,
                },
                "DirectoryConfigProvider" => ProviderKind::Directory {
                    allowed: allowed_paths(param("allowed.paths"))?,
                },
                _ => {
                    return Err(ProviderConfigError {
                        key: class_key,
                        message: format!(
                            "{class} is not supported; walcast provides {ENV_PROVIDER_CLASS}, \
                             {FILE_PROVIDER_CLASS} and {DIRECTORY_PROVIDER_CLASS}"
                        ),
                    })
                }
            };
            if matches!(
                kind,
                ProviderKind::File { allowed: None } | ProviderKind::Directory { allowed: None }
            ) {
                tracing::warn!(
                    provider = %name,
                    "config.providers.{name}.param.allowed.paths is not set: a connector config \
                     (also one POSTed over REST) may read any file this process can read; list \
                     the secret directories there"
                );
            }
            by_name.insert(name.to_owned(), kind);
        }
        Ok(Self { by_name })
    }

    /// Whether no provider is declared.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Declared provider names, comma-separated, for messages.
    fn names(&self) -> String {
        self.by_name.keys().cloned().collect::<Vec<_>>().join(",")
    }
}

/// KIP-993's `allowed.paths`: comma-separated absolute paths, normalised.
fn allowed_paths(
    param: Option<(String, String)>,
) -> Result<Option<Vec<PathBuf>>, ProviderConfigError> {
    let Some((key, value)) = param else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for p in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let path = Path::new(p);
        if !path.is_absolute() {
            return Err(ProviderConfigError {
                key,
                message: format!("`{p}` is not an absolute path"),
            });
        }
        out.push(normalize(path));
    }
    Ok(Some(out))
}

/// Lexical normalisation like Java's `Path.normalize()`: drops `.`, applies `..` (never above
/// the root). Symlinks are checked separately, after the file is found.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() && !path.is_absolute() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A `${...}` reference that could not be resolved. Messages name the config key and the
/// reference as submitted, never a resolved value, and never whether a file exists.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error(
        "{key}: config provider `{provider}` is not declared on this worker ({declared}); \
         declare it in the worker properties with config.providers and \
         config.providers.{provider}.class"
    )]
    Undeclared {
        key: String,
        provider: String,
        declared: String,
    },
    #[error(
        "{key}: environment variable {var} (referenced as ${{{provider}:{var}}}) is not set or \
         not allowed by config.providers.{provider}.param.allowlist.pattern"
    )]
    EnvUnavailable {
        key: String,
        provider: String,
        var: String,
    },
    #[error(
        "{key}: {} is not under config.providers.{provider}.param.allowed.paths",
        path.display()
    )]
    PathNotAllowed {
        key: String,
        provider: String,
        path: PathBuf,
    },
    #[error(
        "{key}: {reference} cannot be resolved: the file is missing, unreadable, outside the \
         allowed paths or has no such key (the worker log says which)"
    )]
    Unreadable { key: String, reference: String },
    #[error("{key}: malformed reference {reference} (expected ${{provider:[path:]key}})")]
    Malformed { key: String, reference: String },
}

impl SecretError {
    /// The config key whose value held the reference.
    pub fn key(&self) -> &str {
        match self {
            SecretError::Undeclared { key, .. }
            | SecretError::EnvUnavailable { key, .. }
            | SecretError::PathNotAllowed { key, .. }
            | SecretError::Unreadable { key, .. }
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

/// Resolves references with the declared providers, caching each properties file so a config
/// that takes five keys from one file reads it once.
pub struct Resolver<'a> {
    providers: &'a Providers,
    env: EnvLookup<'a>,
    files: HashMap<PathBuf, BTreeMap<String, String>>,
}

impl<'a> Resolver<'a> {
    pub fn new(providers: &'a Providers, env: EnvLookup<'a>) -> Self {
        Self {
            providers,
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
            let secret = self.lookup(key, &rest[start..end], &reference)?;
            redact::remember_secret(&secret);
            out.push_str(&secret);
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
        let unreadable = |why: &dyn std::fmt::Display| {
            // The operator's log gets the reason; the caller gets one message for every case.
            tracing::warn!(key = %key, reference = %text, reason = %why, "config provider reference cannot be resolved");
            SecretError::Unreadable {
                key: key.to_owned(),
                reference: text.to_owned(),
            }
        };
        let provider = reference.provider;
        let Some(kind) = self.providers.by_name.get(provider) else {
            return Err(SecretError::Undeclared {
                key: key.to_owned(),
                provider: provider.to_owned(),
                declared: if self.providers.is_empty() {
                    "none is declared".to_owned()
                } else {
                    format!("config.providers={}", self.providers.names())
                },
            });
        };
        match kind {
            ProviderKind::Env { allowlist } => {
                // Connect's EnvVarConfigProvider takes no path: `${env:NAME}`.
                if reference.path.is_some_and(|p| !p.is_empty()) || reference.key.is_empty() {
                    return Err(malformed());
                }
                let allowed = allowlist.as_ref().is_none_or(|r| r.is_match(reference.key));
                allowed
                    .then(|| (self.env)(reference.key))
                    .flatten()
                    .ok_or_else(|| SecretError::EnvUnavailable {
                        key: key.to_owned(),
                        provider: provider.to_owned(),
                        var: reference.key.to_owned(),
                    })
            }
            ProviderKind::File { allowed } => {
                let raw = reference
                    .path
                    .filter(|p| !p.is_empty())
                    .ok_or_else(malformed)?;
                let path = check_allowed(key, provider, allowed.as_deref(), Path::new(raw))?;
                if !self.files.contains_key(&path) {
                    let bytes =
                        read_inside(&path, allowed.as_deref()).map_err(|why| unreadable(&why))?;
                    let map = properties::parse_map(&properties::decode_bytes(&bytes))
                        .map_err(|e| unreadable(&format!("not a properties file: {e}")))?;
                    self.files.insert(path.clone(), map);
                }
                self.files
                    .get(&path)
                    .and_then(|m| m.get(reference.key))
                    .cloned()
                    .ok_or_else(|| unreadable(&format!("the file has no key `{}`", reference.key)))
            }
            ProviderKind::Directory { allowed } => {
                let dir = reference
                    .path
                    .filter(|p| !p.is_empty())
                    .ok_or_else(malformed)?;
                // The key names a file directly inside the directory, never a path elsewhere.
                if reference.key.is_empty()
                    || reference.key.contains('/')
                    || reference.key == ".."
                    || reference.key == "."
                {
                    return Err(malformed());
                }
                let dir = check_allowed(key, provider, allowed.as_deref(), Path::new(dir))?;
                let path = dir.join(reference.key);
                read_inside(&path, allowed.as_deref())
                    .map(|b| properties::decode_bytes(&b))
                    .map_err(|why| unreadable(&why))
            }
        }
    }
}

/// The normalised path if it lies under one of `allowed` (or `allowed` is unset).
fn check_allowed(
    key: &str,
    provider: &str,
    allowed: Option<&[PathBuf]>,
    path: &Path,
) -> Result<PathBuf, SecretError> {
    let normalized = normalize(path);
    match allowed {
        Some(roots) if !roots.iter().any(|r| normalized.starts_with(r)) => {
            Err(SecretError::PathNotAllowed {
                key: key.to_owned(),
                provider: provider.to_owned(),
                path: path.to_owned(),
            })
        }
        _ => Ok(normalized),
    }
}

/// Read a file, refusing one whose real location (symlinks followed) leaves `allowed`. The
/// error text is for the log only.
fn read_inside(path: &Path, allowed: Option<&[PathBuf]>) -> Result<Vec<u8>, String> {
    if let Some(roots) = allowed {
        let real = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let inside = roots.iter().any(|r| {
            let root = std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
            real.starts_with(root)
        });
        if !inside {
            return Err(format!(
                "{} is a link to {}, outside allowed.paths",
                path.display(),
                real.display()
            ));
        }
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Resolve a whole config with the given providers and environment.
pub fn resolve_config(
    config: &BTreeMap<String, String>,
    providers: &Providers,
    env: EnvLookup<'_>,
) -> Result<BTreeMap<String, String>, SecretError> {
    Resolver::new(providers, env).resolve_map(config)
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

    fn providers(pairs: &[(&str, &str)]) -> Providers {
        let props = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Providers::from_properties(&props).expect("valid declarations")
    }

    fn all_three() -> Providers {
        providers(&[
            ("config.providers", "env,file,directory"),
            ("config.providers.env.class", ENV_PROVIDER_CLASS),
            ("config.providers.file.class", FILE_PROVIDER_CLASS),
            ("config.providers.directory.class", DIRECTORY_PROVIDER_CLASS),
        ])
    }

    #[test]
    fn env_reference_is_replaced_inside_text() {
        let env = env_of(&[("PGPASS", "s3cret"), ("HOST", "db")]);
        let p = all_three();
        let mut r = Resolver::new(&p, &env);
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
        let p = Providers::none();
        let mut r = Resolver::new(&p, &env);
        for v in ["plain", "${topic}", "$x{y:z}", "${unterminated:x", "a}b${"] {
            assert_eq!(r.resolve_value("k", v).expect("no reference"), v);
        }
    }

    #[test]
    fn undeclared_providers_are_errors_naming_the_key() {
        let env = env_of(&[("PGPASS", "s3cret")]);
        let p = Providers::none();
        let err = Resolver::new(&p, &env)
            .resolve_value("database.password", "${env:PGPASS}")
            .expect_err("env is not declared");
        let msg = err.to_string();
        assert!(matches!(err, SecretError::Undeclared { .. }), "{msg}");
        assert!(
            msg.contains("database.password") && msg.contains("config.providers"),
            "{msg}"
        );
        assert!(!msg.contains("s3cret"), "{msg}");

        // Only the declared name works, whatever the class: `secrets` is a FileConfigProvider.
        let p = providers(&[
            ("config.providers", "secrets"),
            ("config.providers.secrets.class", FILE_PROVIDER_CLASS),
        ]);
        let err = Resolver::new(&p, &env)
            .resolve_value("k", "${env:PGPASS}")
            .expect_err("env is not declared");
        assert!(
            err.to_string().contains("config.providers=secrets"),
            "{err}"
        );
    }

    #[test]
    fn provider_declarations_are_checked() {
        let bad = |pairs: &[(&str, &str)]| {
            let props = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Providers::from_properties(&props)
                .expect_err("invalid")
                .to_string()
        };
        let msg = bad(&[("config.providers", "vault")]);
        assert!(msg.contains("config.providers.vault.class"), "{msg}");
        let msg = bad(&[
            ("config.providers", "vault"),
            (
                "config.providers.vault.class",
                "com.example.VaultConfigProvider",
            ),
        ]);
        assert!(
            msg.contains("VaultConfigProvider is not supported"),
            "{msg}"
        );
        let msg = bad(&[
            ("config.providers", "file"),
            ("config.providers.file.class", FILE_PROVIDER_CLASS),
            ("config.providers.file.param.allowed.paths", "relative/dir"),
        ]);
        assert!(msg.contains("not an absolute path"), "{msg}");
        let msg = bad(&[
            ("config.providers", "env"),
            ("config.providers.env.class", ENV_PROVIDER_CLASS),
            ("config.providers.env.param.allowlist.pattern", "(unclosed"),
        ]);
        assert!(msg.contains("allowlist.pattern"), "{msg}");
    }

    #[test]
    fn env_allowlist_pattern_limits_variables() {
        let env = env_of(&[
            ("PG_PASSWORD", "pw"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
        ]);
        let p = providers(&[
            ("config.providers", "env"),
            ("config.providers.env.class", ENV_PROVIDER_CLASS),
            ("config.providers.env.param.allowlist.pattern", "PG_.*"),
        ]);
        let mut r = Resolver::new(&p, &env);
        assert_eq!(
            r.resolve_value("k", "${env:PG_PASSWORD}").expect("ok"),
            "pw"
        );
        let refused = r
            .resolve_value("database.hostname", "${env:AWS_SECRET_ACCESS_KEY}")
            .expect_err("not in the allowlist")
            .to_string();
        let unset = r
            .resolve_value("database.hostname", "${env:PG_UNSET}")
            .expect_err("unset")
            .to_string();
        assert!(!refused.contains("aws-secret"), "{refused}");
        // Refused and unset read alike, so a caller cannot probe the environment.
        assert_eq!(
            refused.replace("AWS_SECRET_ACCESS_KEY", "X"),
            unset.replace("PG_UNSET", "X")
        );
    }

    #[test]
    fn file_reference_reads_properties_file() {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        writeln!(f, "# secrets\npassword = hunter2\nuser: alice").expect("write");
        let path = f.path().display().to_string();
        let env = env_of(&[]);
        let p = all_three();
        let mut r = Resolver::new(&p, &env);
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
        assert!(matches!(err, SecretError::Unreadable { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn missing_file_and_missing_key_read_alike() {
        let dir = tempfile::tempdir().expect("temp dir");
        let existing = dir.path().join("real.properties");
        std::fs::write(&existing, "a=1\n").expect("write");
        let missing = dir.path().join("nope.properties");
        let env = env_of(&[]);
        let p = all_three();
        let mut r = Resolver::new(&p, &env);
        let e1 = r
            .resolve_value("k", &format!("${{file:{}:b}}", existing.display()))
            .expect_err("no key b")
            .to_string();
        let e2 = r
            .resolve_value("k", &format!("${{file:{}:b}}", missing.display()))
            .expect_err("no file")
            .to_string();
        assert_eq!(
            e1.replace("real.properties", "F"),
            e2.replace("nope.properties", "F")
        );
    }

    #[test]
    fn allowed_paths_confine_file_and_directory_providers() {
        let allowed = tempfile::tempdir().expect("temp dir");
        let outside = tempfile::tempdir().expect("temp dir");
        std::fs::write(allowed.path().join("pg_password"), "inside").expect("write");
        std::fs::write(allowed.path().join("db.properties"), "pw=inside\n").expect("write");
        std::fs::write(outside.path().join("secret"), "outside").expect("write");
        std::fs::write(outside.path().join("o.properties"), "pw=outside\n").expect("write");
        std::os::unix::fs::symlink(outside.path().join("secret"), allowed.path().join("sneaky"))
            .expect("symlink");
        let root = allowed.path().display().to_string();
        let p = providers(&[
            ("config.providers", "file,directory"),
            ("config.providers.file.class", FILE_PROVIDER_CLASS),
            ("config.providers.file.param.allowed.paths", &root),
            ("config.providers.directory.class", DIRECTORY_PROVIDER_CLASS),
            ("config.providers.directory.param.allowed.paths", &root),
        ]);
        let env = env_of(&[]);
        let mut r = Resolver::new(&p, &env);
        assert_eq!(
            r.resolve_value("k", &format!("${{directory:{root}:pg_password}}"))
                .expect("inside"),
            "inside"
        );
        assert_eq!(
            r.resolve_value("k", &format!("${{file:{root}/db.properties:pw}}"))
                .expect("inside"),
            "inside"
        );
        let out = outside.path().display();
        for reference in [
            format!("${{file:{out}/o.properties:pw}}"),
            format!(
                "${{file:{root}/../{}/o.properties:pw}}",
                outside
                    .path()
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ),
            format!("${{directory:{out}:secret}}"),
            "${file:relative.properties:pw}".to_owned(),
        ] {
            let err = r.resolve_value("k", &reference).expect_err(&reference);
            assert!(
                matches!(err, SecretError::PathNotAllowed { .. }),
                "{reference}: {err}"
            );
        }
        // A link inside the allowed directory to a file outside reads like a missing file.
        let err = r
            .resolve_value("k", &format!("${{directory:{root}:sneaky}}"))
            .expect_err("symlink leaves the allowed paths");
        assert!(matches!(err, SecretError::Unreadable { .. }), "{err}");
        for reference in [
            format!("${{directory:{root}:../x}}"),
            format!("${{directory:{root}:..}}"),
        ] {
            assert!(matches!(
                r.resolve_value("k", &reference),
                Err(SecretError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn directory_reference_reads_file_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("pg_password"), "pw-from-dir").expect("write");
        let env = env_of(&[]);
        let p = all_three();
        let v = Resolver::new(&p, &env)
            .resolve_value(
                "k",
                &format!("${{directory:{}:pg_password}}", dir.path().display()),
            )
            .expect("resolves");
        assert_eq!(v, "pw-from-dir");
    }

    #[test]
    fn malformed_references_fail() {
        let env = env_of(&[("A", "1")]);
        let p = all_three();
        let mut r = Resolver::new(&p, &env);
        assert!(matches!(
            r.resolve_value("k", "${vault:secret/db:password}"),
            Err(SecretError::Undeclared { .. })
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

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("/../../etc")), PathBuf::from("/etc"));
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
    }
}
