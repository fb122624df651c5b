//! Cluster-level helpers: connecting, listing topics, creating a topic if it is missing.
//!
//! Topics are created explicitly with CreateTopics (Connect's `topic.creation.default.*`)
//! rather than relying on broker auto-creation: real clusters often disable
//! `auto.create.topics.enable`, and where it is enabled it creates topics with the broker's
//! default partition count, which would change the key → partition mapping.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::error::{Error as RsError, ProtocolError};
use rskafka::client::{ClientBuilder, Credentials, SaslConfig};
use rskafka::BackoffConfig;

use crate::client::Client;
use crate::error::KafkaError;

/// A topic and its partition count, as the cluster's metadata reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: i32,
}

/// Connects to the cluster (fetching its metadata once), giving up after `timeout`.
///
/// rskafka retries failed requests internally for up to `timeout` as well; use this for readers
/// and administration. A broker that is down yields a transient [`KafkaError::Connect`] or
/// [`KafkaError::ConnectTimeout`] the caller can retry.
pub async fn connect(
    bootstrap_servers: &[String],
    client_id: &str,
    timeout: Duration,
) -> Result<Arc<Client>, KafkaError> {
    connect_secure(
        bootstrap_servers,
        client_id,
        timeout,
        &KafkaSecurity::default(),
    )
    .await
}

/// [`connect`] with TLS and/or SASL ([`KafkaSecurity::from_properties`]).
pub async fn connect_secure(
    bootstrap_servers: &[String],
    client_id: &str,
    timeout: Duration,
    security: &KafkaSecurity,
) -> Result<Arc<Client>, KafkaError> {
    let backoff = BackoffConfig {
        init_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(timeout),
    };
    build_secure_client(bootstrap_servers, client_id, backoff, timeout, security).await
}

/// Builds a client with the given internal retry policy, bounded by `timeout`, with
/// TLS and/or SASL as `security` says.
pub(crate) async fn build_secure_client(
    bootstrap_servers: &[String],
    client_id: &str,
    backoff: BackoffConfig,
    timeout: Duration,
    security: &KafkaSecurity,
) -> Result<Arc<Client>, KafkaError> {
    let servers = bootstrap_servers.join(",");
    if bootstrap_servers.is_empty() {
        return Err(KafkaError::Config {
            name: "bootstrap.servers",
            message: "no broker address given".into(),
        });
    }
    let mut builder = ClientBuilder::new(bootstrap_servers.to_vec())
        .client_id(client_id)
        .backoff_config(backoff);
    if let Some(tls) = &security.tls {
        builder = builder.tls_config(Arc::clone(tls));
    }
    if let Some(sasl) = &security.sasl {
        builder = builder.sasl_config(sasl.clone());
    }
    // The deadline in the backoff bounds rskafka's retries; this bounds a connect that hangs
    // (a firewall dropping packets) and the last attempt.
    match tokio::time::timeout(timeout + Duration::from_secs(1), builder.build()).await {
        Ok(Ok(client)) => Ok(Arc::new(Client::new(client))),
        Ok(Err(e)) => Err(KafkaError::Connect {
            servers,
            source: crate::error::BrokerError(Arc::new(e)),
        }),
        Err(_) => Err(KafkaError::ConnectTimeout {
            servers,
            timeout_ms: duration_ms(timeout),
        }),
    }
}

/// Every non-internal topic with its partition count (a fresh, uncached metadata request).
pub async fn list_topics(client: &Client) -> Result<Vec<TopicInfo>, KafkaError> {
    let topics = client
        .rskafka()
        .list_topics()
        .await
        .map_err(|e| KafkaError::admin("listing", "*", e))?;
    Ok(topics
        .into_iter()
        .map(|t| TopicInfo {
            partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
            name: t.name,
        })
        .collect())
}

/// The partition count of `topic`, or `None` if it does not exist.
///
/// Uses an all-topics metadata request on purpose: a request naming the topic would make brokers
/// with `auto.create.topics.enable` create it with their default partition count.
pub async fn topic_partitions(client: &Client, topic: &str) -> Result<Option<i32>, KafkaError> {
    let topics = client
        .rskafka()
        .list_topics()
        .await
        .map_err(|e| KafkaError::admin("describing", topic, e))?;
    Ok(topics
        .into_iter()
        .find(|t| t.name == topic)
        .map(|t| i32::try_from(t.partitions.len()).unwrap_or(i32::MAX))
        .filter(|n| *n > 0))
}

/// Makes sure `topic` exists, creating it with `partitions` partitions and `replication_factor`
/// replicas if it does not; returns the partition count it actually has (an existing topic keeps
/// its own). "Already exists" counts as success: another producer may have won the race.
pub async fn ensure_topic(
    client: &Client,
    topic: &str,
    partitions: i32,
    replication_factor: i16,
    timeout: Duration,
) -> Result<i32, KafkaError> {
    if let Some(n) = topic_partitions(client, topic).await? {
        return Ok(n);
    }
    let controller = client
        .rskafka()
        .controller_client()
        .map_err(|e| KafkaError::admin("creating", topic, e))?;
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    match controller
        .create_topic(topic, partitions, replication_factor, timeout_ms)
        .await
    {
        Ok(()) => {
            tracing::info!(topic, partitions, replication_factor, "created kafka topic");
        }
        Err(RsError::ServerError {
            protocol_error: ProtocolError::TopicAlreadyExists,
            ..
        }) => {}
        Err(e) => return Err(KafkaError::admin("creating", topic, e)),
    }
    // Metadata propagates to all brokers asynchronously after CreateTopics; wait for it (bounded)
    // so that the caller partitions by the real count.
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(n) = topic_partitions(client, topic).await? {
            return Ok(n);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(KafkaError::Timeout {
                what: "waiting for a created topic to appear in metadata",
                topic: topic.to_owned(),
                timeout_ms: duration_ms(timeout),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Kafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

/// TLS and SASL settings for one kind of Kafka client, read from Kafka's own keys:
/// `security.protocol`, `ssl.truststore.location` / `ssl.keystore.location` (PEM files;
/// `ssl.truststore.type`/`ssl.keystore.type` must be PEM), `ssl.key.password` (refused: keys
/// must be unencrypted), `sasl.mechanism` (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and
/// `sasl.jaas.config` as Connect users write it. Cheap to clone; never prints secrets.
#[derive(Clone, Default)]
pub struct KafkaSecurity {
    pub protocol: SecurityProtocol,
    tls: Option<Arc<rustls::ClientConfig>>,
    sasl: Option<SaslConfig>,
}

impl std::fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mechanism = match &self.sasl {
            None => None,
            Some(SaslConfig::Plain(_)) => Some("PLAIN"),
            Some(SaslConfig::ScramSha256(_)) => Some("SCRAM-SHA-256"),
            Some(SaslConfig::ScramSha512(_)) => Some("SCRAM-SHA-512"),
            Some(SaslConfig::Oauthbearer(_)) => Some("OAUTHBEARER"),
        };
        f.debug_struct("KafkaSecurity")
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.is_some())
            .field("sasl_mechanism", &mechanism)
            .finish()
    }
}

/// A security setting walcast cannot use; `key` is the key as the user wrote it.
fn security_error(key: &str, message: impl std::fmt::Display) -> KafkaError {
    KafkaError::Config {
        name: "security",
        message: format!("{key}: {message}"),
    }
}

impl KafkaSecurity {
    /// Read the settings for a client `role` (`producer`, `consumer` or `admin`): the
    /// `<role>.`-prefixed key wins, then the unprefixed one. (Connect passes only `producer.*`
    /// to a source task's producer; walcast also accepts the worker-level key so one
    /// `security.protocol` secures every connection.) `props` are resolved properties:
    /// `${file:..}` references in `sasl.jaas.config` are already replaced.
    pub fn from_properties(
        props: &BTreeMap<String, String>,
        role: &str,
    ) -> Result<Self, KafkaError> {
        let lookup = |key: &str| -> Option<(String, String)> {
            let prefixed = format!("{role}.{key}");
            props
                .get(&prefixed)
                .map(|v| (prefixed, v.trim().to_owned()))
                .or_else(|| {
                    props
                        .get(key)
                        .map(|v| (key.to_owned(), v.trim().to_owned()))
                })
                .filter(|(_, v)| !v.is_empty())
        };
        let protocol = match lookup("security.protocol") {
            None => SecurityProtocol::Plaintext,
            Some((key, v)) => match v.to_ascii_uppercase().as_str() {
                "PLAINTEXT" => SecurityProtocol::Plaintext,
                "SSL" => SecurityProtocol::Ssl,
                "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
                "SASL_SSL" => SecurityProtocol::SaslSsl,
                _ => {
                    return Err(security_error(
                        &key,
                        format!("`{v}` is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
                    ))
                }
            },
        };
        let mut security = KafkaSecurity {
            protocol,
            ..Self::default()
        };
        if matches!(protocol, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl) {
            security.tls = Some(tls_config(&lookup)?);
        }
        if matches!(
            protocol,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        ) {
            security.sasl = Some(sasl_config(&lookup)?);
        }
        Ok(security)
    }
}

type Lookup<'a> = dyn Fn(&str) -> Option<(String, String)> + 'a;

fn check_pem_type(
    lookup: &Lookup<'_>,
    type_key: &str,
    location_key: &str,
) -> Result<(), KafkaError> {
    if let Some((key, t)) = lookup(type_key) {
        if !t.eq_ignore_ascii_case("PEM") {
            return Err(security_error(
                &key,
                format!(
                    "walcast reads PEM files only, not {t}: convert with `keytool -importkeystore \
                     -srckeystore store.jks -destkeystore store.p12 -deststoretype PKCS12` and \
                     `openssl pkcs12 -in store.p12 -out store.pem -nodes`, then set {location_key} \
                     to the PEM file and {type_key}=PEM"
                ),
            ));
        }
    }
    Ok(())
}

fn tls_config(lookup: &Lookup<'_>) -> Result<Arc<rustls::ClientConfig>, KafkaError> {
    check_pem_type(lookup, "ssl.truststore.type", "ssl.truststore.location")?;
    check_pem_type(lookup, "ssl.keystore.type", "ssl.keystore.location")?;
    if let Some((key, v)) = lookup("ssl.endpoint.identification.algorithm") {
        if !v.eq_ignore_ascii_case("https") {
            return Err(security_error(
                &key,
                "only https (the default: the broker certificate must name the broker) is supported",
            ));
        }
    }
    // An empty `ssl.endpoint.identification.algorithm=` (Kafka: skip the host name check) is
    // not honoured: walcast always checks that the certificate names the broker.
    let mut roots = rustls::RootCertStore::empty();
    match lookup("ssl.truststore.location") {
        Some((key, path)) => {
            let pem = std::fs::read(&path)
                .map_err(|e| security_error(&key, format!("cannot read {path}: {e}")))?;
            let certs = rustls_pemfile::certs(&mut pem.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| security_error(&key, format!("{path}: {e}")))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(security_error(
                    &key,
                    format!("{path} contains no PEM certificate"),
                ));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| security_error("security.protocol", e))?
        .with_root_certificates(roots);
    let config = match lookup("ssl.keystore.location") {
        None => builder.with_no_client_auth(),
        Some((key, path)) => {
            if let Some((pw_key, _)) = lookup("ssl.key.password") {
                return Err(security_error(
                    &pw_key,
                    format!(
                        "encrypted keys are not supported: decrypt the key in {path} once \
                         (`openssl pkey -in key.pem -out key-plain.pem`), protect the file, and \
                         remove ssl.key.password"
                    ),
                ));
            }
            let pem = std::fs::read(&path)
                .map_err(|e| security_error(&key, format!("cannot read {path}: {e}")))?;
            let certs = rustls_pemfile::certs(&mut pem.as_slice())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| security_error(&key, format!("{path}: {e}")))?;
            let private_key = rustls_pemfile::private_key(&mut pem.as_slice())
                .map_err(|e| security_error(&key, format!("{path}: {e}")))?
                .ok_or_else(|| {
                    security_error(
                        &key,
                        format!(
                            "{path} must hold the client certificate chain and its unencrypted \
                             private key (PEM)"
                        ),
                    )
                })?;
            if certs.is_empty() {
                return Err(security_error(
                    &key,
                    format!("{path} holds no PEM certificate"),
                ));
            }
            builder
                .with_client_auth_cert(certs, private_key)
                .map_err(|e| security_error(&key, e))?
        }
    };
    Ok(Arc::new(config))
}

fn sasl_config(lookup: &Lookup<'_>) -> Result<SaslConfig, KafkaError> {
    // Kafka's default mechanism is GSSAPI (Kerberos), which walcast does not speak.
    let (mech_key, mechanism) = lookup("sasl.mechanism")
        .unwrap_or_else(|| ("sasl.mechanism".to_owned(), "GSSAPI".to_owned()));
    let (jaas_key, jaas) = lookup("sasl.jaas.config").ok_or_else(|| {
        security_error(
            "sasl.jaas.config",
            "SASL needs sasl.jaas.config, e.g. org.apache.kafka.common.security.scram.\
             ScramLoginModule required username=\"...\" password=\"...\";",
        )
    })?;
    let (module, options) = parse_jaas(&jaas).map_err(|m| security_error(&jaas_key, m))?;
    let get = |name: &str| {
        options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| security_error(&jaas_key, format!("the login module has no {name}=")))
    };
    let credentials = || -> Result<Credentials, KafkaError> {
        Ok(Credentials::new(get("username")?, get("password")?))
    };
    let expect_module = |short: &str| {
        if module.rsplit('.').next() == Some(short) {
            Ok(())
        } else {
            Err(security_error(
                &jaas_key,
                format!("{mechanism} needs {short}, not {module}"),
            ))
        }
    };
    match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => {
            expect_module("PlainLoginModule")?;
            Ok(SaslConfig::Plain(credentials()?))
        }
        "SCRAM-SHA-256" => {
            expect_module("ScramLoginModule")?;
            Ok(SaslConfig::ScramSha256(credentials()?))
        }
        "SCRAM-SHA-512" => {
            expect_module("ScramLoginModule")?;
            Ok(SaslConfig::ScramSha512(credentials()?))
        }
        other => Err(security_error(
            &mech_key,
            format!("{other} is not supported; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
        )),
    }
}

/// Parse a JAAS login-module entry as Kafka reads `sasl.jaas.config`:
/// `<class> <flag> key="value" key2=value2;` with `\` escapes inside quotes. Returns the class
/// and the options. Errors never quote option values (they hold the password).
pub fn parse_jaas(text: &str) -> Result<(String, Vec<(String, String)>), String> {
    let mut chars = text.trim().chars().peekable();
    let mut word = || -> String {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut w = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '=' || c == ';' {
                break;
            }
            w.push(c);
            chars.next();
        }
        w
    };
    let module = word();
    let flag = word();
    if module.is_empty() || flag.is_empty() {
        return Err("expected `<LoginModule class> required key=\"value\" ...;`".into());
    }
    if !matches!(
        flag.to_ascii_lowercase().as_str(),
        "required" | "requisite" | "sufficient" | "optional"
    ) {
        return Err(format!(
            "`{flag}` after {module} is not a JAAS control flag (required, requisite, sufficient, optional)"
        ));
    }
    let mut options = Vec::new();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None => return Err("missing `;` at the end".into()),
            Some(';') => {
                chars.next();
                if chars.any(|c| !c.is_whitespace()) {
                    return Err("only one login module is supported".into());
                }
                return Ok((module, options));
            }
            Some(_) => {}
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() || c == ';' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(format!("option `{key}` has no `=value`"));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("the value of {key} has no closing quote")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("the value of {key} ends in a backslash")),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == ';' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        options.push((key, value));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn jaas_config_as_connect_users_write_it() {
        let (module, options) = parse_jaas(
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="p\"w;d";"#,
        )
        .unwrap();
        assert_eq!(
            module,
            "org.apache.kafka.common.security.scram.ScramLoginModule"
        );
        assert_eq!(
            options,
            vec![
                ("username".to_owned(), "alice".to_owned()),
                ("password".to_owned(), "p\"w;d".to_owned())
            ]
        );
        let (_, options) = parse_jaas(
            "org.apache.kafka.common.security.plain.PlainLoginModule required\n  username=bob\n  password=secret ;",
        )
        .unwrap();
        assert_eq!(options[1], ("password".to_owned(), "secret".to_owned()));
        for bad in [
            "",
            "X required username=\"a\"",
            "X maybe username=\"a\";",
            "X required username=\"a;",
            "X required username;",
            "X required a=1; Y required b=2;",
        ] {
            let err = parse_jaas(bad).unwrap_err();
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn sasl_and_prefixes() {
        let scram = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"u\" password=\"hunter22\";";
        let s = KafkaSecurity::from_properties(
            &props(&[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.jaas.config", scram),
                ("producer.sasl.mechanism", "SCRAM-SHA-256"),
            ]),
            "producer",
        )
        .unwrap();
        assert!(matches!(s.sasl, Some(SaslConfig::ScramSha256(ref c)) if c.username == "u"));
        assert!(s.tls.is_none());
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter22"), "{debug}");
        // The consumer falls back to the worker-level mechanism.
        let c = KafkaSecurity::from_properties(
            &props(&[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.jaas.config", scram),
                ("producer.sasl.mechanism", "SCRAM-SHA-256"),
            ]),
            "consumer",
        )
        .unwrap();
        assert!(matches!(c.sasl, Some(SaslConfig::ScramSha512(_))));

        let err = |pairs: &[(&str, &str)]| {
            KafkaSecurity::from_properties(&props(pairs), "producer")
                .unwrap_err()
                .to_string()
        };
        let msg = err(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.jaas.config", scram),
        ]);
        assert!(msg.contains("GSSAPI"), "{msg}");
        let msg = err(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.jaas.config", scram),
        ]);
        assert!(
            msg.contains("PlainLoginModule") && !msg.contains("hunter22"),
            "{msg}"
        );
        let msg = err(&[("producer.security.protocol", "TLS")]);
        assert!(msg.contains("producer.security.protocol"), "{msg}");
        let msg = err(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.location", "/etc/kafka/truststore.jks"),
            ("ssl.truststore.type", "JKS"),
        ]);
        assert!(msg.contains("keytool"), "{msg}");
        let msg = err(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.location", "/nonexistent/ca.pem"),
        ]);
        assert!(msg.contains("/nonexistent/ca.pem"), "{msg}");
        assert_eq!(
            KafkaSecurity::from_properties(&props(&[]), "admin")
                .unwrap()
                .protocol,
            SecurityProtocol::Plaintext
        );
    }
}
