//! Single Message Transforms and predicates, Connect's `Transformation` and `Predicate`.
//!
//! A transform chain (`transforms=a,b`) runs in order on every record. Most transforms are pure
//! functions of one record; a transform that looks things up elsewhere (walcast's
//! `RedisLookup`) gets each batch first through [`Transformation::prepare`], so it can fetch
//! everything the batch needs in one round trip, and then [`Transformation::apply`] per record.

use futures::future::BoxFuture;

use crate::config::ConfigIssue;
use crate::plugin::ConnectorConfig;
use crate::record::ConnectRecord;

/// Why a transform could not handle a record. `errors.tolerance` decides what happens next
/// (dead letter queue or FAILED task).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransformError {
    pub message: String,
    /// True for failures of something outside the record (a lookup store unreachable): retried
    /// per `errors.retry.timeout`, never dead-lettered.
    pub transient: bool,
}

impl TransformError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: false,
        }
    }

    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: true,
        }
    }
}

/// One configured transform.
pub trait Transformation: Send + Sync {
    /// Called with each batch before `apply` runs on its records (in the chain's order, so it
    /// sees what the earlier transforms produced). Default: nothing.
    fn prepare<'a>(
        &'a mut self,
        _records: &'a [ConnectRecord],
    ) -> BoxFuture<'a, Result<(), TransformError>> {
        Box::pin(async { Ok(()) })
    }

    /// Transform one record; `Ok(None)` drops it.
    fn apply(&mut self, record: ConnectRecord) -> Result<Option<ConnectRecord>, TransformError>;

    /// The name of the connector running this transform, told once before the first batch,
    /// for the `connector` label of the transform's own metrics. Default: nothing.
    fn set_connector(&mut self, _name: &str) {}

    /// The top-level fields of a Debezium change event envelope (`before`, `after`, `source`,
    /// `op`...) this transform reads from the events it is given, when it reads nothing else of
    /// them and passes on nothing else (it replaces the envelope). As the first transform of a
    /// sink's chain, the JsonConverter then leaves the other fields of envelope values out
    /// (parsed, not built: they read as nulls), which saves most of the conversion of an event.
    /// Default: `None` (the transform may read anything).
    fn envelope_fields(&self) -> Option<&'static [&'static str]> {
        None
    }
}

/// A condition on a record (`predicates=...`), e.g. `TopicNameMatches`.
pub trait Predicate: Send + Sync {
    fn test(&self, record: &ConnectRecord) -> bool;
}

/// Builds transforms and predicates from a connector config's `transforms.<alias>.*` keys.
pub trait TransformFactory: Send + Sync {
    /// `type` values this factory builds (full class names and aliases).
    fn classes(&self) -> &'static [&'static str];
    /// Build one transform from its own keys (the `transforms.<alias>.` prefix removed).
    fn build(
        &self,
        class: &str,
        config: &ConnectorConfig,
    ) -> Result<Box<dyn Transformation>, Vec<ConfigIssue>>;
}
