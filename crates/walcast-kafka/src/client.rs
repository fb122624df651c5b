//! [`Client`]: walcast's handle on a Kafka cluster, so that rskafka stays an implementation
//! detail of this crate (callers never name an rskafka type and a client change stays here).
//!
//! In: made by [`connect`](crate::connect) / [`connect_secure`](crate::connect_secure).
//! Out: shared (`Arc<Client>`) by the admin helpers, [`PartitionReader`](crate::PartitionReader)s
//! and [`RecordSender`](crate::RecordSender)s of one connection.

/// A connection to a Kafka cluster: bootstrap, cached metadata and one connection per broker.
pub struct Client {
    inner: rskafka::client::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(inner: rskafka::client::Client) -> Self {
        Self { inner }
    }

    /// The rskafka client underneath, for this crate's own requests.
    pub(crate) fn rskafka(&self) -> &rskafka::client::Client {
        &self.inner
    }
}
