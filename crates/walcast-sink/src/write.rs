//! The write stage: batches of transformed records plus the positions they reach, written by the
//! connector's [`SinkWriter`] in the order they were taken. It runs on a thread of its own (with
//! its own single-threaded runtime, where the writer's connection lives), so the task loop
//! converts and transforms the next batch while the destination stores this one (the
//! destination's work and walcast's overlap instead of taking turns), and the destination's
//! answers never wait for a busy worker thread.
//!
//! In: [`WriteJob`]s through a queue bounded by [`QueueRoom`]; the jobs waiting when a write
//! starts go into that write (one transaction for the destination, at most `batch.size`
//! records). Out: [`WriteEvent`]s telling the task loop which positions are stored, or why the
//! stage stopped. A position is reported only after the write
//! holding it committed; records the destination refuses for their data are found by writing
//! the batch record by record, and dead-lettered (or fail the task) before the position moves
//! past them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use walcast_connect_api::{
    ConnectRecord, ConnectorError, Position, SinkError, SinkErrorKind, SinkWriter, TopicPartition,
};
use walcast_kafka::ConsumedRecord;

use crate::convert::{is_delete, source_ts_ms};
use crate::errors::{ErrorHandler, Failure, Stage};
use crate::metrics::TaskMetrics;
use crate::retry::{ms, sleep_or_stop, Backoff, Halt};
use crate::SinkOptions;

/// One batch for the destination.
pub(crate) struct WriteJob {
    /// The records the transform chain kept, in the order they were taken.
    pub records: Vec<ConnectRecord>,
    /// For each of `records`, the index of its raw record in `items`.
    pub origin: Vec<usize>,
    /// (index into `tps`, raw record) of every record taken, kept for the dead letter queue.
    pub items: Vec<(usize, ConsumedRecord)>,
    /// The task's topic-partitions when the batch was taken.
    pub tps: Arc<Vec<TopicPartition>>,
    /// The next offset of every partition the batch covers.
    pub positions: Vec<Position>,
    /// What the job took of the queue's room (given back when the write stage takes it).
    pub room: (usize, usize),
}

/// The room in the write stage's queue: at most `batch.size` records and about
/// `max_bytes` of them as fetched (a job may overshoot the bytes once, as a batch's size is
/// only known once it is taken). The task loop takes room for each job it queues; the write
/// stage gives it back as it takes the jobs, so what waits and what is being written stay
/// bounded whatever the batch size.
pub(crate) struct QueueRoom {
    records: Semaphore,
    bytes: Semaphore,
}

impl QueueRoom {
    pub(crate) fn new(records: usize, max_bytes: usize) -> Self {
        let cap = |n: usize| n.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            records: Semaphore::new(cap(records)),
            bytes: Semaphore::new(cap(max_bytes)),
        }
    }

    /// Records a job may take now; 0 while the queue is full (in records or bytes).
    pub(crate) fn records_free(&self) -> usize {
        if self.bytes.available_permits() == 0 {
            0
        } else {
            self.records.available_permits()
        }
    }

    /// Takes room for a job of `records` records and `bytes` bytes (no more than
    /// [`Self::records_free`] records); returns what was taken, for [`Self::give_back`].
    pub(crate) fn take(&self, records: usize, bytes: usize) -> (usize, usize) {
        let take = |s: &Semaphore, n: usize| {
            let n = n.min(s.available_permits());
            match s.try_acquire_many(u32::try_from(n).unwrap_or(u32::MAX)) {
                Ok(p) => {
                    p.forget();
                    n
                }
                Err(_) => 0,
            }
        };
        (take(&self.records, records), take(&self.bytes, bytes))
    }

    pub(crate) fn give_back(&self, (records, bytes): (usize, usize)) {
        self.records.add_permits(records);
        self.bytes.add_permits(bytes);
    }

    /// Completes when some room was given back (the queue was full).
    pub(crate) async fn freed(&self) {
        let full = if self.bytes.available_permits() == 0 {
            &self.bytes
        } else {
            &self.records
        };
        drop(full.acquire().await);
    }
}

impl WriteJob {
    /// Appends a later job: one write then stores both. `Err` gives `later` back when the two
    /// cannot be one job (the task's partitions are not an extension of this job's).
    fn absorb(&mut self, mut later: WriteJob) -> Result<(), WriteJob> {
        // The task only ever appends partitions, so the later list normally extends this one
        // and this job's indexes stay valid in it.
        if !Arc::ptr_eq(&self.tps, &later.tps) {
            if !later.tps.starts_with(&self.tps) {
                return Err(later);
            }
            self.tps = later.tps.clone();
        }
        let base = self.items.len();
        self.origin.extend(later.origin.iter().map(|i| i + base));
        self.records.append(&mut later.records);
        self.items.append(&mut later.items);
        for p in later.positions {
            match self.positions.iter_mut().find(|q| q.tp == p.tp) {
                Some(q) => q.next_offset = q.next_offset.max(p.next_offset),
                None => self.positions.push(p),
            }
        }
        Ok(())
    }
}

/// The positions stored in the destination when the writer was opened.
pub(crate) type Opened = HashMap<TopicPartition, i64>;

/// A started write stage: completes when its thread ends; the writer's stored positions (or why
/// it could not be opened).
pub(crate) type Started = (
    oneshot::Receiver<()>,
    oneshot::Receiver<Result<Opened, Halt>>,
);

/// What the write stage reports to the task loop.
pub(crate) enum WriteEvent {
    /// These positions are stored in the destination.
    Stored(Vec<Position>),
    /// A written job, handed back to be dropped by the task loop: its records were built on
    /// the task loop's thread, where the allocator frees them from its own lists, and dropping
    /// thousands of values is then not on the write stage, the task's critical path.
    Spent(WriteJob),
    /// The stage stopped: shut down, or the task must fail.
    Stopped(Halt),
}

/// The write stage's settings and state.
pub(crate) struct WriteStage {
    pub name: String,
    /// The task's shutdown: interrupts waits between retries.
    pub shutdown: CancellationToken,
    /// Cancelled by the task loop when it stops: no further batch is started.
    pub stop: CancellationToken,
    pub writer: Box<dyn SinkWriter>,
    pub errors: Arc<Mutex<ErrorHandler>>,
    pub metrics: TaskMetrics,
    /// `__connect.errors.class.name` for write failures (the connector class).
    pub connector_class: String,
    pub options: SinkOptions,
    /// The task loop's room in the job queue: given back as jobs are taken.
    pub queue_room: Arc<QueueRoom>,
    pub retry_delay_max: Duration,
    pub retry_timeout: Option<Duration>,
    pub events: mpsc::UnboundedSender<WriteEvent>,
}

enum WriteFailure {
    /// The destination refused the records' data (nothing stored).
    Data(SinkError),
    Halt(Halt),
}

impl WriteStage {
    /// Starts the stage on a thread of its own: it opens the writer (the stored positions, or
    /// why it could not, come back through the second receiver) and then writes batches until
    /// the job channel closes, `stop` fires between batches, or a write fails for good
    /// (reported as [`WriteEvent::Stopped`]). The first receiver completes when the thread ends.
    ///
    /// Why a thread: the destination's round trips are the task's critical path, and on the
    /// worker's runtime every answer waited until a converting or transforming task (milliseconds
    /// of CPU without a pause) let a worker thread go. On its own thread, with its own
    /// connection, the stage is woken by the operating system as soon as an answer arrives.
    pub(crate) fn spawn(self, jobs: mpsc::Receiver<WriteJob>) -> Result<Started, Halt> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Halt::Fail(ConnectorError::new(format!(
                    "cannot start the write stage of sink connector {}: {e}",
                    self.name
                )))
            })?;
        let (done_tx, done) = oneshot::channel();
        let (opened_tx, opened) = oneshot::channel();
        let span = tracing::Span::current();
        let name = self.name.clone();
        let mut stage = self;
        std::thread::Builder::new()
            .name("walcast-write".into())
            .spawn(move || {
                runtime.block_on(tracing::Instrument::instrument(
                    async move {
                        let result = stage.open().await;
                        let ok = result.is_ok();
                        if opened_tx.send(result).is_ok() && ok {
                            stage.run(jobs).await;
                        }
                    },
                    span,
                ));
                drop(runtime);
                let _ = done_tx.send(());
            })
            .map_err(|e| {
                Halt::Fail(ConnectorError::new(format!(
                    "cannot start the write stage's thread for sink connector {name}: {e}"
                )))
            })?;
        Ok((done, opened))
    }

    /// Opens the writer, retrying transient failures; returns the stored positions.
    async fn open(&mut self) -> Result<Opened, Halt> {
        let mut backoff =
            Backoff::for_connector(&self.options, self.retry_delay_max, self.retry_timeout);
        loop {
            let result = tokio::select! {
                _ = self.shutdown.cancelled() => return Err(Halt::Shutdown),
                r = self.writer.open(&self.name) => r,
            };
            match result {
                Ok(positions) => {
                    return Ok(positions
                        .into_iter()
                        .map(|p| (p.tp, p.next_offset))
                        .collect())
                }
                Err(e) if e.kind == SinkErrorKind::Transient => {
                    let Some(wait) = backoff.next_delay() else {
                        return Err(Halt::Fail(ConnectorError::new(format!(
                            "opening the destination of connector {} kept failing: {e}",
                            self.name
                        ))));
                    };
                    self.metrics.retries.increment(1);
                    tracing::warn!(error = %e, retry = backoff.attempts, retry_in_ms = ms(wait), "opening the destination failed, retrying");
                    sleep_or_stop(&self.shutdown, wait).await?;
                }
                Err(e) => {
                    return Err(Halt::Fail(ConnectorError::new(format!(
                        "opening the destination of connector {} failed: {e}",
                        self.name
                    ))))
                }
            }
        }
    }

    async fn run(mut self, mut jobs: mpsc::Receiver<WriteJob>) {
        // A job taken from the queue that could not join the write before it.
        let mut next: Option<WriteJob> = None;
        loop {
            let mut job = match next.take() {
                Some(j) => j,
                None => tokio::select! {
                    biased;
                    _ = self.stop.cancelled() => return,
                    job = jobs.recv() => match job {
                        Some(j) => self.took(j),
                        None => return,
                    },
                },
            };
            if self.stop.is_cancelled() {
                return;
            }
            // The jobs waiting join this write, up to `batch.size` records (the task loop may
            // queue more meanwhile, with the room given back here).
            let batch_size = self.options.batch_size.max(1);
            while next.is_none() {
                match jobs.try_recv() {
                    Ok(more) => {
                        let more = self.took(more);
                        if job.items.len() + more.items.len() > batch_size {
                            next = Some(more);
                        } else if let Err(more) = job.absorb(more) {
                            next = Some(more);
                        }
                    }
                    Err(_) => break,
                }
            }
            if let Err(h) = self.process(job).await {
                let _ = self.events.send(WriteEvent::Stopped(h));
                return;
            }
        }
    }

    /// Gives the job's room in the queue back to the task loop.
    fn took(&self, mut job: WriteJob) -> WriteJob {
        self.queue_room.give_back(std::mem::take(&mut job.room));
        job
    }

    fn stored(&self, positions: Vec<Position>) {
        let _ = self.events.send(WriteEvent::Stored(positions));
    }

    /// Writes one batch; on return every record of it is stored, dead-lettered or skipped, and
    /// its positions are stored.
    async fn process(&mut self, mut job: WriteJob) -> Result<(), Halt> {
        let started = Instant::now();
        match self.write_with_retry(&job.records, &job.positions).await {
            Ok(()) => {
                self.metrics.written.increment(job.records.len() as u64);
                let deletes = job.records.iter().filter(|r| is_delete(r)).count();
                self.metrics.deleted.increment(deletes as u64);
                self.metrics.batch_size.record(job.records.len() as f64);
                self.observe_end_to_end(job.records.iter());
                tracing::trace!(
                    records = job.records.len(),
                    write_ms = started.elapsed().as_secs_f64() * 1e3,
                    "batch written"
                );
            }
            Err(WriteFailure::Data(e)) => {
                tracing::info!(records = job.records.len(), error = %e, "a batch write was refused for its data; writing record by record to find the bad records");
                self.write_one_by_one(&job).await?;
            }
            Err(WriteFailure::Halt(h)) => return Err(h),
        }
        self.stored(std::mem::take(&mut job.positions));
        let _ = self.events.send(WriteEvent::Spent(job));
        Ok(())
    }

    fn observe_end_to_end<'a>(&self, records: impl Iterator<Item = &'a ConnectRecord>) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        for ts in records.filter_map(source_ts_ms) {
            self.metrics
                .end_to_end
                .record((now - ts).max(0) as f64 / 1000.0);
        }
    }

    fn new_backoff(&self) -> Backoff {
        Backoff::for_connector(&self.options, self.retry_delay_max, self.retry_timeout)
    }

    /// Writes `records` with `positions`, retrying transient failures with backoff (re-opening
    /// the writer each time). A write whose outcome was unknown (the connection broke during the
    /// commit) is recognised by the positions the re-opened writer reports, and not repeated.
    async fn write_with_retry(
        &mut self,
        records: &[ConnectRecord],
        positions: &[Position],
    ) -> Result<(), WriteFailure> {
        let mut backoff = self.new_backoff();
        loop {
            let started = Instant::now();
            let result = self.writer.write(&self.name, records, positions).await;
            let e = match result {
                Ok(()) => {
                    self.metrics
                        .write_seconds
                        .record(started.elapsed().as_secs_f64());
                    return Ok(());
                }
                Err(e) => e,
            };
            match e.kind {
                SinkErrorKind::Data => return Err(WriteFailure::Data(e)),
                SinkErrorKind::Fatal => {
                    return Err(WriteFailure::Halt(Halt::Fail(write_error(
                        &self.name, positions, &e,
                    ))))
                }
                SinkErrorKind::Transient => {}
            }
            // Transient: wait, re-open, and find out whether the write made it after all.
            let mut last = e;
            loop {
                let Some(wait) = backoff.next_delay() else {
                    return Err(WriteFailure::Halt(Halt::Fail(ConnectorError::new(
                        format!(
                            "writing a batch for connector {} kept failing after {} retries (errors.retry.timeout / max.retries exhausted): {last}",
                            self.name, backoff.attempts
                        ),
                    ))));
                };
                self.metrics.retries.increment(1);
                tracing::warn!(error = %last, retry = backoff.attempts, retry_in_ms = ms(wait), "write failed transiently, retrying");
                let shutdown = self.shutdown.clone();
                sleep_or_stop(&shutdown, wait)
                    .await
                    .map_err(WriteFailure::Halt)?;
                match self.writer.open(&self.name).await {
                    Ok(stored) => {
                        let found: HashMap<&TopicPartition, i64> =
                            stored.iter().map(|p| (&p.tp, p.next_offset)).collect();
                        let committed = !positions.is_empty()
                            && positions
                                .iter()
                                .all(|p| found.get(&p.tp).is_some_and(|&s| s >= p.next_offset));
                        self.stored(stored);
                        if committed {
                            tracing::info!(
                                "the write that failed had been committed; not repeating it"
                            );
                            return Ok(());
                        }
                        break;
                    }
                    Err(e) if e.kind == SinkErrorKind::Transient => last = e,
                    Err(e) => {
                        return Err(WriteFailure::Halt(Halt::Fail(ConnectorError::new(
                            format!(
                                "re-opening the destination of connector {} failed: {e}",
                                self.name
                            ),
                        ))))
                    }
                }
            }
        }
    }

    /// After a batch write was refused for its data: write each record alone with its own
    /// partition's position, dead-letter (or fail on) the refused ones, then store the batch's
    /// final positions.
    async fn write_one_by_one(&mut self, job: &WriteJob) -> Result<(), Halt> {
        for (record, &i) in job.records.iter().zip(&job.origin) {
            let Some((p, raw)) = job.items.get(i) else {
                continue;
            };
            let Some(tp) = job.tps.get(*p) else {
                continue;
            };
            let position = vec![Position {
                tp: tp.clone(),
                next_offset: raw.offset + 1,
            }];
            match self
                .write_with_retry(std::slice::from_ref(record), &position)
                .await
            {
                Ok(()) => {
                    self.metrics.written.increment(1);
                    self.metrics.batch_size.record(1.0);
                    if is_delete(record) {
                        self.metrics.deleted.increment(1);
                    }
                    self.observe_end_to_end(std::iter::once(record));
                    self.stored(position);
                }
                Err(WriteFailure::Data(e)) => {
                    let failure = Failure {
                        stage: Stage::TaskPut,
                        class_name: self.connector_class.clone(),
                        message: e.message,
                    };
                    self.errors
                        .lock()
                        .await
                        .report(&tp.topic, raw, &failure, &self.shutdown)
                        .await?;
                }
                Err(WriteFailure::Halt(h)) => return Err(h),
            }
        }
        match self.write_with_retry(&[], &job.positions).await {
            Ok(()) => Ok(()),
            Err(WriteFailure::Halt(h)) => Err(h),
            Err(WriteFailure::Data(e)) => {
                Err(Halt::Fail(write_error(&self.name, &job.positions, &e)))
            }
        }
    }
}

fn write_error(connector: &str, positions: &[Position], e: &SinkError) -> ConnectorError {
    let covered: Vec<String> = positions
        .iter()
        .map(|p| format!("{}@{}", p.tp, p.next_offset))
        .collect();
    ConnectorError {
        message: format!("sink connector {connector} cannot write: {e}"),
        trace: format!(
            "sink connector {connector} cannot write: {e}\nbatch up to positions: {}",
            covered.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    /// A job of records at `offsets` of partition `p` (an index into `tps`); every other record
    /// was dropped by the transforms, so `origin` skips them.
    fn job(tps: &Arc<Vec<TopicPartition>>, p: usize, offsets: &[i64]) -> WriteJob {
        let items: Vec<(usize, ConsumedRecord)> = offsets
            .iter()
            .map(|&offset| {
                (
                    p,
                    ConsumedRecord {
                        partition: tps[p].partition,
                        offset,
                        key: None,
                        value: Some(offset.to_string().into_bytes().into()),
                        timestamp_ms: 0,
                        headers: Default::default(),
                    },
                )
            })
            .collect();
        let origin: Vec<usize> = (0..items.len()).step_by(2).collect();
        let records = origin
            .iter()
            .map(|&i| ConnectRecord {
                topic: tps[p].topic.clone(),
                partition: Some(tps[p].partition),
                offset: Some(items[i].1.offset),
                timestamp_ms: None,
                key_schema: None,
                key: walcast_connect_api::Value::Null,
                value_schema: None,
                value: walcast_connect_api::Value::Int64(items[i].1.offset),
                headers: Vec::new(),
            })
            .collect();
        let next = offsets.last().map_or(0, |o| o + 1);
        WriteJob {
            records,
            origin,
            items,
            tps: tps.clone(),
            positions: vec![Position {
                tp: tps[p].clone(),
                next_offset: next,
            }],
            room: (0, 0),
        }
    }

    #[test]
    fn absorbed_jobs_keep_order_origins_and_the_furthest_positions() {
        let two = Arc::new(vec![tp("a", 0), tp("a", 1)]);
        let mut first = job(&two, 0, &[10, 11, 12]);
        assert!(first.absorb(job(&two, 1, &[5, 6])).is_ok());
        // A later job after a partition was added: its list extends this one.
        let three = Arc::new(vec![tp("a", 0), tp("a", 1), tp("b", 0)]);
        assert!(first.absorb(job(&three, 0, &[13, 14])).is_ok());
        assert!(first.absorb(job(&three, 2, &[0])).is_ok());
        assert!(Arc::ptr_eq(&first.tps, &three));
        let offsets: Vec<i64> = first.records.iter().filter_map(|r| r.offset).collect();
        assert_eq!(offsets, [10, 12, 5, 13, 0]);
        // Each record still points at its own raw record, in the right partition.
        for (r, &i) in first.records.iter().zip(&first.origin) {
            let (p, raw) = &first.items[i];
            assert_eq!(Some(raw.offset), r.offset);
            assert_eq!(first.tps[*p].topic, r.topic);
            assert_eq!(Some(first.tps[*p].partition), r.partition);
        }
        let mut positions: Vec<(String, i32, i64)> = first
            .positions
            .iter()
            .map(|p| (p.tp.topic.clone(), p.tp.partition, p.next_offset))
            .collect();
        positions.sort();
        assert_eq!(
            positions,
            [("a".into(), 0, 15), ("a".into(), 1, 7), ("b".into(), 0, 1)]
        );
    }

    #[test]
    fn a_job_over_other_partitions_is_given_back() {
        let mine = Arc::new(vec![tp("a", 0)]);
        let other = Arc::new(vec![tp("b", 0)]);
        let mut first = job(&mine, 0, &[1]);
        let back = first
            .absorb(job(&other, 0, &[7]))
            .err()
            .map(|j| j.items.len());
        assert_eq!(back, Some(1));
        assert_eq!(first.items.len(), 1);
        assert_eq!(first.positions.len(), 1);
    }
}
