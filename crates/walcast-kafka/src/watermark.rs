//! The ordered acknowledgement watermark: which caller tokens are safe to confirm.
//!
//! The source tags every record with a token (the PostgreSQL commit LSN of its transaction) and
//! confirms a token to PostgreSQL only when [`AckTracker::watermark`] has reached it. Acks arrive
//! out of order (partitions are independent), so the tracker keeps, per token in send order, the
//! number of records not yet acknowledged, and the watermark is the last token of the fully
//! acknowledged prefix.
//!
//! A token is only reported once it is *closed*, that is, once no more records can carry it: a
//! record with a larger token was sent, or the token was marked ([`AckTracker::mark`]), or
//! everything was flushed. Without this rule a transaction whose first records were acknowledged
//! while the rest were still being sent would be confirmed early, and a crash at that moment
//! would lose its remaining records.

use std::collections::VecDeque;

/// One token that still has unacknowledged records, or that was marked after a token that has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    token: u64,
    /// Records sent with this token and not yet acknowledged.
    outstanding: u64,
}

/// Counts unacknowledged records per token and computes the watermark (pure logic, no I/O).
#[derive(Debug, Default)]
pub struct AckTracker {
    /// Tokens in increasing order; the front is the oldest not yet covered by the watermark.
    entries: VecDeque<Entry>,
    /// The largest token sent or marked so far.
    max_token: u64,
    /// Every token `<= closed` is complete (marked); `None` before the first mark.
    closed: Option<u64>,
    /// Tokens `<= flushed` were closed by a flush.
    flushed: Option<u64>,
    /// Largest token T such that every record with a token `<= T` is acknowledged and T is
    /// closed; 0 before anything is acknowledged.
    watermark: u64,
    /// Records handed over and not yet acknowledged, over all tokens.
    outstanding: u64,
}

/// A token smaller than one seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenWentBackwards {
    pub token: u64,
    pub previous: u64,
}

impl AckTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// The watermark (see the module docs).
    pub fn watermark(&self) -> u64 {
        self.watermark
    }

    /// The largest token sent or marked.
    #[cfg(test)]
    pub fn max_token(&self) -> u64 {
        self.max_token
    }

    /// Records sent and not yet acknowledged.
    pub fn outstanding(&self) -> u64 {
        self.outstanding
    }

    /// Tokens held in memory: bounded by the tokens that have records outstanding, plus one.
    #[cfg(test)]
    pub fn entries(&self) -> usize {
        self.entries.len()
    }

    /// Counts `n` records sent with `token`. Returns whether the watermark moved (sending a larger
    /// token closes the previous ones, which may already be fully acknowledged).
    ///
    /// A record may carry the token that was just marked or flushed (the source's heartbeat
    /// uses the last confirmed position). The watermark may already have reported that token and
    /// never goes back, so such a record is delivered and counted for flushes, but the caller
    /// must not rely on the watermark for it.
    pub fn sent(&mut self, token: u64, n: u64) -> Result<bool, TokenWentBackwards> {
        if token < self.max_token {
            return Err(TokenWentBackwards {
                token,
                previous: self.max_token,
            });
        }
        self.max_token = token;
        self.outstanding += n;
        match self.entries.back_mut() {
            Some(last) if last.token == token => last.outstanding += n,
            _ => self.entries.push_back(Entry {
                token,
                outstanding: n,
            }),
        }
        Ok(self.advance())
    }

    /// Declares that no record with a token `<= token` will follow: the token of a transaction
    /// whose records are all sent, or of one without any records. Returns whether the watermark
    /// moved. A token older than one already seen is ignored (it is closed already).
    pub fn mark(&mut self, token: u64) -> bool {
        if token < self.max_token {
            return false;
        }
        self.closed = Some(self.closed.map_or(token, |c| c.max(token)));
        if token > self.max_token {
            self.max_token = token;
            match self.entries.back_mut() {
                // Nothing outstanding at the newest token: no record carries a token between
                // it and this one, so the mark takes its place. Marks (commits of uncaptured
                // tables, keepalives) then cost no memory while older records wait for the
                // broker; entries stay bounded by tokens that have records outstanding.
                Some(last) if last.outstanding == 0 => last.token = token,
                // An entry with nothing outstanding, so the watermark can stop exactly at it
                // while older tokens are acknowledged.
                _ => self.entries.push_back(Entry {
                    token,
                    outstanding: 0,
                }),
            }
        }
        self.advance()
    }

    /// Closes every token seen so far (a flush). Returns whether the watermark moved.
    pub fn close_all(&mut self) -> bool {
        self.flushed = Some(self.max_token);
        self.advance()
    }

    /// Counts `n` records with `token` as acknowledged. Returns whether the watermark moved.
    ///
    /// Acknowledging a token that has no outstanding records is a bug in the caller; it is
    /// ignored (with a debug assertion) rather than corrupting other tokens' counts.
    pub fn acked(&mut self, token: u64, n: u64) -> bool {
        let idx = self.entries.partition_point(|e| e.token < token);
        match self.entries.get_mut(idx) {
            Some(e) if e.token == token && e.outstanding >= n => {
                e.outstanding -= n;
                self.outstanding -= n;
            }
            _ => {
                debug_assert!(
                    false,
                    "ack for {n} records of token {token} that were not sent"
                );
                return false;
            }
        }
        self.advance()
    }

    fn is_closed(&self, token: u64) -> bool {
        token < self.max_token
            || self.closed.is_some_and(|c| token <= c)
            || self.flushed.is_some_and(|f| token <= f)
    }

    fn advance(&mut self) -> bool {
        let before = self.watermark;
        while let Some(front) = self.entries.front().copied() {
            if front.outstanding > 0 || !self.is_closed(front.token) {
                break;
            }
            self.watermark = self.watermark.max(front.token);
            self.entries.pop_front();
        }
        self.watermark != before
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_acks_across_partitions() {
        let mut t = AckTracker::new();
        // Token 10: two records (partitions 0 and 1); token 20: one record (partition 2).
        t.sent(10, 1).unwrap();
        t.sent(10, 1).unwrap();
        t.sent(20, 1).unwrap();
        t.mark(20);
        // Partition 2 acks first: 20 is done but 10 is not, so nothing is confirmed.
        assert!(!t.acked(20, 1));
        assert_eq!(t.watermark(), 0);
        t.acked(10, 1);
        assert_eq!(t.watermark(), 0);
        assert!(t.acked(10, 1));
        assert_eq!(t.watermark(), 20);
        assert_eq!(t.outstanding(), 0);
    }

    #[test]
    fn an_open_token_is_not_reported_until_closed() {
        let mut t = AckTracker::new();
        t.sent(5, 1).unwrap();
        t.acked(5, 1);
        // More records of transaction 5 may still follow.
        assert_eq!(t.watermark(), 0);
        t.sent(5, 1).unwrap();
        t.acked(5, 1);
        assert_eq!(t.watermark(), 0);
        // The next transaction closes 5.
        assert!(t.sent(6, 1).unwrap());
        assert_eq!(t.watermark(), 5);
        // Marking closes 6 once acknowledged.
        assert!(!t.mark(6));
        assert!(t.acked(6, 1));
        assert_eq!(t.watermark(), 6);
    }

    #[test]
    fn marks_without_records() {
        let mut t = AckTracker::new();
        assert!(t.mark(3));
        assert_eq!(t.watermark(), 3);
        t.sent(5, 2).unwrap();
        // A mark between outstanding tokens waits for the older ones.
        t.mark(7);
        t.sent(9, 1).unwrap();
        assert_eq!(t.watermark(), 3);
        t.acked(5, 2);
        // 7 is reported exactly, although 9 is still outstanding.
        assert_eq!(t.watermark(), 7);
        t.acked(9, 1);
        assert_eq!(t.watermark(), 7);
        t.mark(9);
        assert_eq!(t.watermark(), 9);
        // A stale mark changes nothing.
        assert!(!t.mark(4));
        assert_eq!(t.watermark(), 9);
    }

    #[test]
    fn equal_tokens_wait_for_every_record() {
        let mut t = AckTracker::new();
        for _ in 0..100 {
            t.sent(42, 1).unwrap();
        }
        t.mark(42);
        for i in 0..99 {
            t.acked(42, 1);
            assert_eq!(t.watermark(), 0, "after {i} acks");
        }
        t.acked(42, 1);
        assert_eq!(t.watermark(), 42);
    }

    #[test]
    fn close_all_reports_the_last_token() {
        let mut t = AckTracker::new();
        t.sent(1, 3).unwrap();
        t.sent(2, 3).unwrap();
        t.acked(2, 3);
        t.acked(1, 3);
        assert_eq!(t.watermark(), 1);
        assert!(t.close_all());
        assert_eq!(t.watermark(), 2);
        // After a flush the same token may be used again; the next flush covers it.
        t.sent(2, 1).unwrap();
        t.acked(2, 1);
        assert_eq!(t.outstanding(), 0);
        assert!(!t.close_all());
        assert_eq!(t.watermark(), 2);
    }

    #[test]
    fn tokens_must_not_go_backwards() {
        let mut t = AckTracker::new();
        t.sent(10, 1).unwrap();
        assert_eq!(
            t.sent(9, 1),
            Err(TokenWentBackwards {
                token: 9,
                previous: 10
            })
        );
        t.mark(12);
        assert!(t.sent(11, 1).is_err());
        t.sent(13, 1).unwrap();
    }

    #[test]
    fn a_record_with_the_marked_token_is_accepted_without_moving_back() {
        let mut t = AckTracker::new();
        t.sent(10, 1).unwrap();
        t.mark(10);
        t.acked(10, 1);
        assert_eq!(t.watermark(), 10);
        // A heartbeat at the confirmed position.
        t.sent(10, 1).unwrap();
        assert_eq!(t.watermark(), 10);
        assert_eq!(t.outstanding(), 1);
        t.acked(10, 1);
        assert_eq!(t.outstanding(), 0);
        t.sent(11, 1).unwrap();
        t.mark(11);
        t.acked(11, 1);
        assert_eq!(t.watermark(), 11);
    }

    #[test]
    fn watermark_never_passes_an_unacknowledged_record() {
        // A randomized check of the invariant against a naive model.
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _ in 0..200 {
            let mut t = AckTracker::new();
            let mut unacked: Vec<u64> = Vec::new();
            let mut token = 1;
            let mut marked = 0;
            for _ in 0..200 {
                match next() % 4 {
                    0 => token += next() % 3,
                    1 => {
                        t.mark(token);
                        marked = token;
                    }
                    2 if !unacked.is_empty() => {
                        let i = (next() as usize) % unacked.len();
                        let tok = unacked.swap_remove(i);
                        t.acked(tok, 1);
                    }
                    _ => {
                        if token > marked || (marked == 0 && token >= t.max_token()) {
                            t.sent(token, 1).unwrap();
                            unacked.push(token);
                        }
                    }
                }
                let w = t.watermark();
                assert!(
                    unacked.iter().all(|u| *u > w),
                    "watermark {w} passed {unacked:?}"
                );
                assert!(w <= marked.max(t.max_token()));
            }
            t.close_all();
            for u in unacked.drain(..) {
                t.acked(u, 1);
            }
            assert_eq!(t.watermark(), t.max_token());
        }
    }

    #[test]
    fn marks_are_coalesced_while_records_wait_for_the_broker() {
        let mut t = AckTracker::new();
        // One record waits for an acknowledgement (the broker is down)...
        t.sent(1, 1).unwrap();
        // ...while a million commits of uncaptured tables are marked.
        for token in 2..=1_000_001u64 {
            t.mark(token);
            assert!(
                t.entries() <= 2,
                "{} entries after mark {token}",
                t.entries()
            );
        }
        // Never confirmed past the unacknowledged record.
        assert_eq!(t.watermark(), 0);
        assert_eq!(t.outstanding(), 1);
        // Once it is acknowledged, everything marked is confirmed at once.
        assert!(t.acked(1, 1));
        assert_eq!(t.watermark(), 1_000_001);
        assert_eq!(t.entries(), 0);
    }

    #[test]
    fn marks_with_nothing_outstanding_hold_no_memory() {
        let mut t = AckTracker::new();
        for token in 1..=1_000_000u64 {
            t.mark(token);
            assert!(t.entries() <= 1);
        }
        assert_eq!(t.watermark(), 1_000_000);
        // A record after coalesced marks still holds the watermark back until acknowledged.
        t.sent(1_000_010, 1).unwrap();
        t.mark(1_000_020);
        assert_eq!(t.watermark(), 1_000_000);
        t.acked(1_000_010, 1);
        assert_eq!(t.watermark(), 1_000_020);
    }

    #[test]
    fn a_mark_after_an_acknowledged_but_open_token_replaces_it() {
        let mut t = AckTracker::new();
        t.sent(5, 1).unwrap();
        t.sent(7, 1).unwrap();
        t.acked(7, 1);
        // 7 is acknowledged but open; the mark closes it and takes its place.
        t.mark(9);
        assert_eq!(t.entries(), 2);
        assert_eq!(t.watermark(), 0);
        t.acked(5, 1);
        assert_eq!(t.watermark(), 9);
    }
}
