//! Kafka Connect's single message transforms for walcast: the `transforms=a,b` chain with
//! predicates, Debezium's `ExtractNewRecordState`, and Kafka's `ReplaceField`, `InsertField`,
//! `RegexRouter` and `TimestampConverter`, with Connect's class names, keys, defaults and
//! schema changes.
//!
//! In: a connector config (`transforms=...`, `transforms.<alias>.*`, `predicates=...`,
//! `predicates.<name>.*`) and batches of [`ConnectRecord`]s read by `walcast-json`. Out: one
//! [`Outcome`] per record, in input order: kept (transformed), dropped by a transform, or failed
//! with the transform's error (the sink's `errors.tolerance` decides what then happens).
//!
//! Each transform is built from its own keys, the `transforms.<alias>.` prefix removed, and
//! reports config issues under those local keys; the chain puts the prefix back, so every
//! issue names the full key a user wrote (`transforms.unwrap.delete.tombstone.handling.mode`).
//! The references for behaviour are the real classes, run by
//! `../shared/reference/transforms/apply.sh`; `tests/fixtures/` holds their output.

use std::collections::BTreeMap;
use std::sync::Arc;

use walcast_connect_api::{did_you_mean, split_list, ConfigKeyDef};
use walcast_connect_api::{
    ConfigIssue, ConnectRecord, ConnectorConfig, Predicate, TransformError, Transformation,
};

mod extract_new_record_state;
mod insert_field;
mod predicates;
mod redis_lookup;
mod regex_router;
mod replace_field;
mod timestamp_converter;
mod util;

/// What became of one input record of [`TransformChain::apply_batch`].
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The record after every transform of the chain.
    Keep(ConnectRecord),
    /// A transform dropped it (e.g. `ExtractNewRecordState` dropping a tombstone).
    Dropped,
    /// A transform could not handle it; the message names the transform's alias.
    Failed(TransformError),
}

/// One step of the chain: a transform and the predicate that gates it.
struct Step {
    alias: String,
    transform: Box<dyn Transformation>,
    /// The predicate and the step's `negate` flag: the transform runs on a record when
    /// `predicate.test(record) != negate`.
    predicate: Option<(Arc<dyn Predicate>, bool)>,
}

/// A connector's transform chain, built once per task and applied to every batch.
pub struct TransformChain {
    steps: Vec<Step>,
}

impl std::fmt::Debug for TransformChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformChain")
            .field(
                "steps",
                &self
                    .steps
                    .iter()
                    .map(|s| s.alias.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Transform classes walcast knows, full names first, for "did you mean".
const TRANSFORM_CLASSES: &[&str] = &[
    "io.debezium.transforms.ExtractNewRecordState",
    "org.apache.kafka.connect.transforms.ReplaceField$Value",
    "org.apache.kafka.connect.transforms.ReplaceField$Key",
    "org.apache.kafka.connect.transforms.RegexRouter",
    "org.apache.kafka.connect.transforms.InsertField$Value",
    "org.apache.kafka.connect.transforms.InsertField$Key",
    "org.apache.kafka.connect.transforms.TimestampConverter$Value",
    "org.apache.kafka.connect.transforms.TimestampConverter$Key",
    "walcast.transforms.RedisLookup",
    "ExtractNewRecordState",
    "ReplaceField$Value",
    "ReplaceField$Key",
    "RegexRouter",
    "InsertField$Value",
    "InsertField$Key",
    "TimestampConverter$Value",
    "TimestampConverter$Key",
    "RedisLookup",
];

/// Predicate classes walcast knows.
const PREDICATE_CLASSES: &[&str] = &[
    "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
    "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
    "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
    "TopicNameMatches",
    "RecordIsTombstone",
    "HasHeaderKey",
];

type Built<T> = Result<T, Vec<ConfigIssue>>;

/// The registry of transform classes: `class` (a `transforms.<alias>.type` value) built from
/// `own` (the alias's keys with the `transforms.<alias>.` prefix removed, `type`, `predicate`
/// and `negate` included). `None` for an unknown class.
///
/// Adding a transform: one arm here, returning `Result<Box<dyn Transformation>,
/// Vec<ConfigIssue>>` with issues keyed by the local key (`key`, not
/// `transforms.lookup.key`; the chain adds the prefix), its names in `TRANSFORM_CLASSES` and
/// its keys in [`config_defs`], as `RedisLookup` (`src/redis_lookup.rs`) is.
fn build(class: &str, own: &ConnectorConfig) -> Option<Built<Box<dyn Transformation>>> {
    use util::Target::{Key, Value};
    Some(match class {
        "io.debezium.transforms.ExtractNewRecordState" | "ExtractNewRecordState" => {
            extract_new_record_state::build(own)
        }
        "org.apache.kafka.connect.transforms.ReplaceField$Value" | "ReplaceField$Value" => {
            replace_field::build(own, Value)
        }
        "org.apache.kafka.connect.transforms.ReplaceField$Key" | "ReplaceField$Key" => {
            replace_field::build(own, Key)
        }
        "org.apache.kafka.connect.transforms.RegexRouter" | "RegexRouter" => {
            regex_router::build(own)
        }
        "org.apache.kafka.connect.transforms.InsertField$Value" | "InsertField$Value" => {
            insert_field::build(own, Value)
        }
        "org.apache.kafka.connect.transforms.InsertField$Key" | "InsertField$Key" => {
            insert_field::build(own, Key)
        }
        "org.apache.kafka.connect.transforms.TimestampConverter$Value"
        | "TimestampConverter$Value" => timestamp_converter::build(own, Value),
        "org.apache.kafka.connect.transforms.TimestampConverter$Key" | "TimestampConverter$Key" => {
            timestamp_converter::build(own, Key)
        }
        "walcast.transforms.RedisLookup" | "RedisLookup" => redis_lookup::build(own),
        _ => return None,
    })
}

/// The registry of predicate classes, like [`build`].
fn build_predicate(class: &str, own: &ConnectorConfig) -> Option<Built<Arc<dyn Predicate>>> {
    Some(match class {
        "org.apache.kafka.connect.transforms.predicates.TopicNameMatches" | "TopicNameMatches" => {
            predicates::topic_name_matches(own)
        }
        "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"
        | "RecordIsTombstone" => predicates::record_is_tombstone(own),
        "org.apache.kafka.connect.transforms.predicates.HasHeaderKey" | "HasHeaderKey" => {
            predicates::has_header_key(own)
        }
        _ => return None,
    })
}

/// The keys of `config` under `prefix`, with the prefix removed.
fn sub_config(config: &ConnectorConfig, prefix: &str) -> ConnectorConfig {
    config
        .range(prefix.to_string()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k[prefix.len()..].to_string(), v.clone()))
        .collect()
}

/// Put `prefix` back on issues a builder reported under local keys.
fn prefixed(issues: Vec<ConfigIssue>, prefix: &str) -> Vec<ConfigIssue> {
    issues
        .into_iter()
        .map(|i| {
            // Messages from `ConfigValues` quote the local key; make them name the full one.
            let full = format!("{prefix}{}", i.key);
            let message = i
                .message
                .replace(&format!("\"{}\"", i.key), &format!("\"{full}\""))
                .replace(
                    &format!("configuration {}:", i.key),
                    &format!("configuration {full}:"),
                );
            ConfigIssue::new(full, message)
        })
        .collect()
}

/// Keys every transform accepts besides its own (Connect's `TransformationStage` keys).
const CHAIN_KEYS: &[&str] = &["type", "predicate", "negate"];

/// Issues for keys of `own` that neither `defs` nor the chain define: Connect ignores them,
/// walcast says so, because a typo there silently changes what a pipeline does.
pub(crate) fn unknown_keys(own: &ConnectorConfig, defs: &[ConfigKeyDef]) -> Vec<ConfigIssue> {
    let known = || {
        defs.iter()
            .map(|d| d.name)
            .chain(CHAIN_KEYS.iter().copied())
    };
    own.keys()
        .filter(|k| !known().any(|n| n == k.as_str()))
        .map(|k| {
            let hint = did_you_mean(k, known())
                .map(|s| format!(" Did you mean \"{s}\"?"))
                .unwrap_or_default();
            ConfigIssue::new(
                k.clone(),
                format!("Unknown key for this transform; walcast does not support it.{hint}"),
            )
        })
        .collect()
}

/// A transform's own keys read against its declarations: the values, and the issues found so
/// far (unknown keys), for the transform to add its own checks to; or every issue at once when
/// the values do not parse.
pub(crate) fn read_config<'a>(
    own: &'a ConnectorConfig,
    defs: &'a [ConfigKeyDef],
) -> Result<(walcast_connect_api::ConfigValues<'a>, Vec<ConfigIssue>), Vec<ConfigIssue>> {
    let mut issues = unknown_keys(own, defs);
    match walcast_connect_api::ConfigValues::parse(defs, own) {
        Ok(values) => Ok((values, issues)),
        Err(mut parse) => {
            issues.append(&mut parse);
            Err(issues)
        }
    }
}

impl TransformChain {
    /// Tells every transform the connector it runs for (its metrics carry the name).
    pub fn with_connector(mut self, name: &str) -> Self {
        for step in &mut self.steps {
            step.transform.set_connector(name);
        }
        self
    }

    /// Build the chain from a connector config, or every problem found, each under its full
    /// key.
    pub fn from_config(config: &ConnectorConfig) -> Result<TransformChain, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut predicates: BTreeMap<String, Arc<dyn Predicate>> = BTreeMap::new();
        let predicate_names = config
            .get("predicates")
            .map(|v| split_list(v))
            .unwrap_or_default();
        for name in &predicate_names {
            let prefix = format!("predicates.{name}.");
            let own = sub_config(config, &prefix);
            let Some(class) = own.get("type").map(|s| s.trim().to_string()) else {
                issues.push(ConfigIssue::new(
                    format!("{prefix}type"),
                    format!("Missing required configuration \"{prefix}type\": the predicate's class, e.g. org.apache.kafka.connect.transforms.predicates.TopicNameMatches."),
                ));
                continue;
            };
            match build_predicate(&class, &own) {
                Some(Ok(p)) => {
                    predicates.insert(name.clone(), p);
                }
                Some(Err(i)) => issues.extend(prefixed(i, &prefix)),
                None => issues.push(unknown_class(
                    &prefix,
                    &class,
                    PREDICATE_CLASSES,
                    "predicate",
                )),
            }
        }
        let mut steps = Vec::new();
        let aliases = config
            .get("transforms")
            .map(|v| split_list(v))
            .unwrap_or_default();
        for (i, alias) in aliases.iter().enumerate() {
            if aliases[..i].contains(alias) {
                issues.push(ConfigIssue::new(
                    "transforms",
                    format!("Duplicate alias provided: {alias}"),
                ));
                continue;
            }
            let prefix = format!("transforms.{alias}.");
            let own = sub_config(config, &prefix);
            let mut predicate = None;
            if let Some(p) = own
                .get("predicate")
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
            {
                let negate = match own.get("negate").map(|s| s.trim()) {
                    None => false,
                    Some(v) if v.eq_ignore_ascii_case("true") => true,
                    Some(v) if v.eq_ignore_ascii_case("false") => false,
                    Some(_) => {
                        issues.push(ConfigIssue::new(
                            format!("{prefix}negate"),
                            format!("Invalid value for configuration {prefix}negate: Expected value to be either true or false"),
                        ));
                        false
                    }
                };
                match predicates.get(p) {
                    Some(pred) => predicate = Some((Arc::clone(pred), negate)),
                    None if predicate_names.iter().any(|n| n == p) => {}
                    None => issues.push(ConfigIssue::new(
                        format!("{prefix}predicate"),
                        format!(
                            "Predicate \"{p}\" is not listed in \"predicates\" (listed: {}).",
                            if predicate_names.is_empty() {
                                "none".to_string()
                            } else {
                                predicate_names.join(", ")
                            }
                        ),
                    )),
                }
            } else if own.contains_key("negate") {
                issues.push(ConfigIssue::new(
                    format!("{prefix}negate"),
                    "\"negate\" is set but the transform has no \"predicate\".",
                ));
            }
            let Some(class) = own.get("type").map(|s| s.trim().to_string()) else {
                issues.push(ConfigIssue::new(
                    format!("{prefix}type"),
                    format!("Missing required configuration \"{prefix}type\": the transform's class, e.g. io.debezium.transforms.ExtractNewRecordState."),
                ));
                continue;
            };
            match build(&class, &own) {
                Some(Ok(transform)) => steps.push(Step {
                    alias: alias.clone(),
                    transform,
                    predicate,
                }),
                Some(Err(i)) => issues.extend(prefixed(i, &prefix)),
                None => issues.push(unknown_class(
                    &prefix,
                    &class,
                    TRANSFORM_CLASSES,
                    "transform",
                )),
            }
        }
        if issues.is_empty() {
            Ok(TransformChain { steps })
        } else {
            Err(issues)
        }
    }

    /// The envelope fields the chain reads of Debezium change events, when its first step
    /// runs on every record and reads only those ([`Transformation::envelope_fields`]): the
    /// converter need not build the others.
    pub fn envelope_projection(&self) -> Option<&'static [&'static str]> {
        let first = self.steps.first()?;
        if first.predicate.is_some() {
            return None;
        }
        first.transform.envelope_fields()
    }

    /// Whether the chain has no transforms (records pass as they are).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Run the chain over a batch: each step's `prepare` sees the records it will transform,
    /// then `apply` runs per record. Returns one [`Outcome`] per input record, in input order.
    /// `Err` only when a `prepare` failed (a lookup store unreachable): the batch should be
    /// retried as a whole.
    pub async fn apply_batch(
        &mut self,
        records: Vec<ConnectRecord>,
    ) -> Result<Vec<Outcome>, TransformError> {
        let n = records.len();
        // Every record not kept to the end is dropped or failed; set as it happens.
        let mut outcomes: Vec<Outcome> = (0..n).map(|_| Outcome::Dropped).collect();
        // The records still in the chain, with their input positions, in input order. Records
        // move between two buffers per step (no predicate: the common case) instead of being
        // regrouped, so a batch costs the same few allocations however long the chain.
        let mut live = records;
        let mut ids: Vec<usize> = (0..n).collect();
        let mut next: Vec<ConnectRecord> = Vec::with_capacity(n);
        let mut next_ids: Vec<usize> = Vec::with_capacity(n);
        // A step's error, named after the step's alias.
        let in_step = |alias: &str, e: TransformError| TransformError {
            message: format!("transform {alias}: {}", e.message),
            transient: e.transient,
        };
        for step in &mut self.steps {
            if live.is_empty() {
                break;
            }
            let Some((predicate, negate)) = &step.predicate else {
                step.transform
                    .prepare(&live)
                    .await
                    .map_err(|e| in_step(&step.alias, e))?;
                for (i, r) in ids.drain(..).zip(live.drain(..)) {
                    match step.transform.apply(r) {
                        Ok(Some(r)) => {
                            next.push(r);
                            next_ids.push(i);
                        }
                        Ok(None) => outcomes[i] = Outcome::Dropped,
                        Err(e) => outcomes[i] = Outcome::Failed(in_step(&step.alias, e)),
                    }
                }
                std::mem::swap(&mut live, &mut next);
                std::mem::swap(&mut ids, &mut next_ids);
                continue;
            };
            // Records the predicate lets through go to the transform; the others wait and
            // rejoin in input order.
            let (mut idx, mut recs, mut passed) = (Vec::new(), Vec::new(), Vec::new());
            for (i, r) in ids.drain(..).zip(live.drain(..)) {
                if predicate.test(&r) != *negate {
                    idx.push(i);
                    recs.push(r);
                } else {
                    passed.push((i, r));
                }
            }
            if !recs.is_empty() {
                step.transform
                    .prepare(&recs)
                    .await
                    .map_err(|e| in_step(&step.alias, e))?;
            }
            for (i, r) in idx.into_iter().zip(recs) {
                match step.transform.apply(r) {
                    Ok(Some(r)) => passed.push((i, r)),
                    Ok(None) => outcomes[i] = Outcome::Dropped,
                    Err(e) => outcomes[i] = Outcome::Failed(in_step(&step.alias, e)),
                }
            }
            passed.sort_by_key(|(i, _)| *i);
            for (i, r) in passed {
                ids.push(i);
                live.push(r);
            }
        }
        for (i, r) in ids.into_iter().zip(live) {
            outcomes[i] = Outcome::Keep(r);
        }
        Ok(outcomes)
    }
}

fn unknown_class(prefix: &str, class: &str, known: &[&'static str], what: &str) -> ConfigIssue {
    let hint = did_you_mean(class, known.iter().copied())
        .map(|s| format!(" Did you mean \"{s}\"?"))
        .unwrap_or_default();
    ConfigIssue::new(
        format!("{prefix}type"),
        format!("Class {class} could not be found: walcast has no such {what}.{hint}"),
    )
}

/// Each transform and predicate class walcast has, by its full name, with the keys it reads
/// (besides `type`, `predicate` and `negate`), for the configuration docs
/// (`config::docs_markdown`) and the REST API.
pub fn config_defs() -> Vec<(&'static str, &'static [ConfigKeyDef])> {
    vec![
        (
            "io.debezium.transforms.ExtractNewRecordState",
            extract_new_record_state::KEYS,
        ),
        (
            "org.apache.kafka.connect.transforms.ReplaceField$Value",
            replace_field::KEYS,
        ),
        (
            "org.apache.kafka.connect.transforms.ReplaceField$Key",
            replace_field::KEYS,
        ),
        (
            "org.apache.kafka.connect.transforms.RegexRouter",
            regex_router::KEYS,
        ),
        (
            "org.apache.kafka.connect.transforms.InsertField$Value",
            insert_field::KEYS,
        ),
        (
            "org.apache.kafka.connect.transforms.InsertField$Key",
            insert_field::KEYS,
        ),
        (
            "org.apache.kafka.connect.transforms.TimestampConverter$Value",
            timestamp_converter::KEYS,
        ),
        (
            "org.apache.kafka.connect.transforms.TimestampConverter$Key",
            timestamp_converter::KEYS,
        ),
        ("walcast.transforms.RedisLookup", redis_lookup::KEYS),
        (
            "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            predicates::TOPIC_NAME_MATCHES_KEYS,
        ),
        (
            "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
            &[],
        ),
        (
            "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
            predicates::HAS_HEADER_KEY_KEYS,
        ),
    ]
}

/// Every problem of the config's transform chain (empty when it builds).
pub fn validate(config: &ConnectorConfig) -> Vec<ConfigIssue> {
    TransformChain::from_config(config)
        .err()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> ConnectorConfig {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_class_is_documented() {
        let defs = config_defs();
        for class in TRANSFORM_CLASSES.iter().chain(PREDICATE_CLASSES) {
            let documented = defs
                .iter()
                .any(|(c, _)| c == class || c.rsplit('.').next() == Some(class));
            assert!(documented, "{class} has no entry in config_defs()");
        }
        for (class, keys) in defs {
            assert!(
                TRANSFORM_CLASSES.contains(&class) || PREDICATE_CLASSES.contains(&class),
                "{class}"
            );
            assert!(keys.iter().all(|k| !k.doc.is_empty()), "{class}");
        }
    }

    #[test]
    fn empty_chain() {
        let c = TransformChain::from_config(&cfg(&[])).unwrap();
        assert!(c.is_empty());
        assert_eq!(c.envelope_projection(), None);
    }

    #[test]
    fn envelope_projection_only_for_a_plain_leading_unwrap() {
        let unwrap = (
            "transforms.u.type",
            "io.debezium.transforms.ExtractNewRecordState",
        );
        let rename = (
            "transforms.r.type",
            "org.apache.kafka.connect.transforms.ReplaceField$Value",
        );
        let renames = ("transforms.r.renames", "id:order_id");
        let chain = |pairs: &[(&str, &str)]| TransformChain::from_config(&cfg(pairs)).unwrap();
        let c = chain(&[("transforms", "u,r"), unwrap, rename, renames]);
        assert_eq!(
            c.envelope_projection(),
            Some(&["before", "after", "op"][..])
        );
        // Reading source fields, after another transform, or behind a predicate: whole events.
        let c = chain(&[
            ("transforms", "u"),
            unwrap,
            ("transforms.u.add.fields", "lsn"),
        ]);
        assert_eq!(c.envelope_projection(), None);
        let c = chain(&[
            ("transforms", "u"),
            unwrap,
            ("transforms.u.add.headers", "db"),
        ]);
        assert_eq!(c.envelope_projection(), None);
        let c = chain(&[("transforms", "r,u"), unwrap, rename, renames]);
        assert_eq!(c.envelope_projection(), None);
        let c = chain(&[
            ("transforms", "u"),
            unwrap,
            ("transforms.u.predicate", "p"),
            ("predicates", "p"),
            (
                "predicates.p.type",
                "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            ),
            ("predicates.p.pattern", ".*"),
        ]);
        assert_eq!(c.envelope_projection(), None);
    }

    #[test]
    fn issues_name_full_keys_and_suggest() {
        let issues = validate(&cfg(&[
            ("transforms", "unwrap,rf,x"),
            (
                "transforms.unwrap.type",
                "io.debezium.transforms.ExtractNewRecordState",
            ),
            ("transforms.unwrap.delete.tombstone.handling.mode", "rewrit"),
            (
                "transforms.rf.type",
                "org.apache.kafka.connect.transforms.ReplaceField$Valeu",
            ),
            ("transforms.x.type", "RegexRouter"),
            ("transforms.x.predicate", "p"),
        ]));
        let keys: Vec<_> = issues.iter().map(|i| i.key.as_str()).collect();
        assert!(
            keys.contains(&"transforms.unwrap.delete.tombstone.handling.mode"),
            "{issues:?}"
        );
        let rf = issues
            .iter()
            .find(|i| i.key == "transforms.rf.type")
            .unwrap();
        assert!(
            rf.message.contains(
                "Did you mean \"org.apache.kafka.connect.transforms.ReplaceField$Value\""
            ),
            "{rf}"
        );
        assert!(keys.contains(&"transforms.x.predicate"));
        assert!(keys.contains(&"transforms.x.regex"), "{issues:?}");
    }

    #[test]
    fn unknown_transform_keys_are_reported() {
        let issues = validate(&cfg(&[
            ("transforms", "r"),
            ("transforms.r.type", "RegexRouter"),
            ("transforms.r.regex", "a"),
            ("transforms.r.replacemnt", "b"),
        ]));
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert_eq!(issues[0].key, "transforms.r.replacemnt");
        assert!(issues[0].message.contains("Did you mean \"replacement\""));
        assert_eq!(issues[1].key, "transforms.r.replacement");
        assert_eq!(
            issues[1].message,
            "Missing required configuration \"transforms.r.replacement\" which has no default value."
        );
    }
}
