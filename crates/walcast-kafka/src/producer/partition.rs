//! One partition's batches between the open batch and the watermark, and the rules that keep
//! them in order: failed batches are retried first, in sequence order; a written batch counts
//! only once every earlier batch is written; a batch written while an earlier one awaited its
//! retry is written again after it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::partition::PartitionClient;
use tokio::time::Instant;

use super::batch::Batch;

#[derive(Debug)]
pub(super) struct PartitionState {
    /// Connection to the partition's leader, created by the first produce attempt.
    pub(super) client: Option<Arc<PartitionClient>>,
    /// The batch records are appended to.
    pub(super) open: Option<Batch>,
    /// Full batches waiting for an in-flight slot.
    pub(super) ready: VecDeque<Batch>,
    /// Failed batches, in `seq` order; they go before anything else, one at a time.
    pub(super) retry: VecDeque<Batch>,
    /// Batches with a request on the wire (the engine keeps the records for a retry), and
    /// written batches whose acknowledgement waits for an earlier batch (see
    /// [`Engine::release`]).
    pub(super) inflight: Vec<Flight>,
    /// No attempt before this instant (backoff after a failure).
    pub(super) retry_at: Option<Instant>,
    pub(super) backoff: Duration,
    pub(super) next_seq: u64,
}

impl PartitionState {
    pub(super) fn new(backoff: Duration) -> Self {
        Self {
            client: None,
            open: None,
            ready: VecDeque::new(),
            retry: VecDeque::new(),
            inflight: Vec::new(),
            retry_at: None,
            backoff,
            next_seq: 0,
        }
    }

    pub(super) fn insert_retry(&mut self, batch: Batch) {
        let at = self.retry.partition_point(|b| b.seq <= batch.seq);
        self.retry.insert(at, batch);
    }

    /// Requests on the wire.
    pub(super) fn on_the_wire(&self) -> usize {
        self.inflight.iter().filter(|f| !f.written).count()
    }

    /// After the batch `failed_seq` failed: batches after it that were already written would
    /// end up before its retry in the log, so they are written again after it (duplicates, but
    /// the last copy of every record is in order). Returns how many were re-queued.
    pub(super) fn requeue_written_after(&mut self, failed_seq: u64) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.inflight.len() {
            if self.inflight[i].written && self.inflight[i].batch.seq > failed_seq {
                let mut f = self.inflight.swap_remove(i);
                f.batch.attempts += 1;
                self.insert_retry(f.batch);
                n += 1;
            } else {
                i += 1;
            }
        }
        n
    }

    /// The broker acknowledged the batch at `idx` of `inflight`. If an earlier batch failed and
    /// has not been written again yet, this batch may sit before that retry in the log, so it is
    /// queued to be written again after it; returns whether that happened.
    pub(super) fn on_written(&mut self, idx: usize) -> bool {
        let seq = self.inflight[idx].batch.seq;
        let behind_a_retry = self.retry.front().is_some_and(|r| r.seq < seq)
            || self
                .inflight
                .iter()
                .any(|f| !f.written && f.batch.attempts > 0 && f.batch.seq < seq);
        if behind_a_retry {
            let mut batch = self.inflight.swap_remove(idx).batch;
            batch.attempts += 1;
            self.insert_retry(batch);
        } else {
            self.inflight[idx].written = true;
        }
        behind_a_retry
    }

    /// Removes and returns the written batches that no earlier batch is waiting for.
    pub(super) fn take_releasable(&mut self) -> Vec<Batch> {
        let first_unwritten = self
            .inflight
            .iter()
            .filter(|f| !f.written)
            .map(|f| f.batch.seq)
            .chain(self.retry.front().map(|b| b.seq))
            .min()
            .unwrap_or(u64::MAX);
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.inflight.len() {
            if self.inflight[i].written && self.inflight[i].batch.seq < first_unwritten {
                out.push(self.inflight.swap_remove(i).batch);
            } else {
                i += 1;
            }
        }
        out
    }
}

/// A dispatched batch.
#[derive(Debug)]
pub(super) struct Flight {
    pub(super) batch: Batch,
    /// The broker acknowledged it; its tokens count as acknowledged once every earlier batch of
    /// the partition is written too.
    pub(super) written: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_kept_in_sequence_order() {
        let now = Instant::now();
        let mut p = PartitionState::new(Duration::from_millis(1));
        p.insert_retry(Batch::new(5, 1, now));
        p.insert_retry(Batch::new(2, 1, now));
        p.insert_retry(Batch::new(9, 1, now));
        let mut again = Batch::new(2, 1, now);
        again.attempts = 42;
        p.insert_retry(again);
        let order: Vec<(u64, u32)> = p.retry.iter().map(|b| (b.seq, b.attempts)).collect();
        assert_eq!(order, vec![(2, 0), (2, 42), (5, 0), (9, 0)]);
    }

    fn flight(seq: u64, written: bool) -> Flight {
        Flight {
            batch: Batch::new(seq, 1, Instant::now()),
            written,
        }
    }

    #[test]
    fn written_batches_are_released_in_order_only() {
        let mut p = PartitionState::new(Duration::from_millis(1));
        p.inflight = vec![flight(1, false), flight(2, true), flight(3, true)];
        // Batch 1 is still on the wire: 2 and 3 wait.
        assert!(p.take_releasable().is_empty());
        assert_eq!(p.on_the_wire(), 1);
        p.inflight[0].written = true;
        let mut released: Vec<u64> = p.take_releasable().iter().map(|b| b.seq).collect();
        released.sort_unstable();
        assert_eq!(released, vec![1, 2, 3]);
        assert!(p.inflight.is_empty());
    }

    #[test]
    fn a_failure_re_sends_the_later_written_batches_after_it() {
        let mut p = PartitionState::new(Duration::from_millis(1));
        p.inflight = vec![flight(2, true), flight(3, false), flight(4, true)];
        // Batch 1 failed while 2 and 4 were written and 3 is on the wire.
        p.insert_retry(Batch::new(1, 1, Instant::now()));
        assert_eq!(p.requeue_written_after(1), 2);
        let retry: Vec<u64> = p.retry.iter().map(|b| b.seq).collect();
        assert_eq!(retry, vec![1, 2, 4]);
        // 3 is still on the wire; nothing is releasable before 1 is written.
        assert!(p.take_releasable().is_empty());
        assert_eq!(p.on_the_wire(), 1);
        // 3 is written before 1's retry: it must be written again after it.
        assert!(p.on_written(0));
        let retry: Vec<u64> = p.retry.iter().map(|b| b.seq).collect();
        assert_eq!(retry, vec![1, 2, 3, 4]);
        // The retry of 1 goes out alone; 1 written with nothing earlier pending is released.
        let one = p.retry.pop_front().unwrap();
        p.inflight.push(Flight {
            batch: one,
            written: false,
        });
        assert!(!p.on_written(0));
        assert_eq!(p.take_releasable().len(), 1);
    }
}
