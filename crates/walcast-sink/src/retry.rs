//! Exponential backoff for transient failures, bounded by `errors.retry.timeout` (and a
//! connector's `max.retries` when it has one), the two ways a task loop stops early, and the
//! wait between retries that a shutdown cuts short.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use walcast_connect_api::ConnectorError;

use crate::SinkOptions;

/// The initial wait before retrying a transient failure when the connector has no
/// `retry.backoff.ms` (Connect's error handler starts at 300 ms as well).
pub(crate) const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(300);

/// Sleeps `wait`, or returns `Halt::Shutdown` if the task is told to stop first.
pub(crate) async fn sleep_or_stop(
    shutdown: &CancellationToken,
    wait: Duration,
) -> Result<(), Halt> {
    tokio::select! {
        _ = shutdown.cancelled() => Err(Halt::Shutdown),
        _ = tokio::time::sleep(wait) => Ok(()),
    }
}

/// A duration in whole milliseconds, for log fields.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why a task loop stopped before its work was done.
#[derive(Debug)]
pub(crate) enum Halt {
    /// `ctx.shutdown` fired: stop cleanly, nothing half-stored.
    Shutdown,
    /// The task must fail with this error.
    Fail(ConnectorError),
}

impl From<ConnectorError> for Halt {
    fn from(e: ConnectorError) -> Self {
        Halt::Fail(e)
    }
}

/// Delays between retries of one operation: `initial`, doubling up to `max`, until `timeout`
/// has passed since the first failure or `max_retries` retries were made.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
    deadline: Option<Instant>,
    retries_left: Option<u32>,
    /// Retries made so far, for log lines.
    pub attempts: u32,
}

impl Backoff {
    pub(crate) fn new(
        initial: Duration,
        max: Duration,
        timeout: Option<Duration>,
        max_retries: Option<u32>,
    ) -> Self {
        Self {
            next: initial.max(Duration::from_millis(1)).min(max),
            max,
            deadline: timeout.map(|t| Instant::now() + t),
            retries_left: max_retries,
            attempts: 0,
        }
    }

    /// Retries of the connector's own operations (opening and writing the destination,
    /// transforms): its `retry.backoff.ms` (default [`DEFAULT_RETRY_BACKOFF`]) and
    /// `max.retries`, doubling up to `max` (`errors.retry.delay.max.ms`) until `timeout`.
    pub(crate) fn for_connector(
        options: &SinkOptions,
        max: Duration,
        timeout: Option<Duration>,
    ) -> Self {
        Self::new(
            options.retry_backoff_or(DEFAULT_RETRY_BACKOFF),
            max,
            timeout,
            options.max_retries,
        )
    }

    /// The wait before the next retry, or `None` when retrying must stop. The last wait is
    /// shortened so that a retry happens at the deadline rather than after it.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        if let Some(left) = self.retries_left.as_mut() {
            if *left == 0 {
                return None;
            }
            *left -= 1;
        }
        let mut wait = self.next;
        if let Some(deadline) = self.deadline {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            wait = wait.min(deadline - now);
        }
        self.next = (self.next * 2).min(self.max);
        self.attempts += 1;
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn doubles_up_to_the_cap_and_stops_at_the_timeout() {
        let mut b = Backoff::new(
            Duration::from_millis(100),
            Duration::from_millis(500),
            Some(Duration::from_millis(1000)),
            None,
        );
        let mut waits = Vec::new();
        while let Some(w) = b.next_delay() {
            waits.push(w.as_millis());
            tokio::time::advance(w).await;
        }
        assert_eq!(waits, [100, 200, 400, 300]);
    }

    #[tokio::test(start_paused = true)]
    async fn max_retries_and_unlimited() {
        let mut b = Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(20),
            None,
            Some(2),
        );
        assert!(b.next_delay().is_some());
        assert!(b.next_delay().is_some());
        assert!(b.next_delay().is_none());
        let mut b = Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(20),
            None,
            None,
        );
        for _ in 0..1000 {
            assert!(b
                .next_delay()
                .is_some_and(|w| w <= Duration::from_millis(20)));
        }
    }
}
