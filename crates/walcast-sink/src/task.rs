//! The task loop: partitions' fetch responses in, batches of converted and transformed records
//! plus the positions they reach out to the write stage ([`crate::write`]).
//!
//! ```text
//! per partition: fetch task ──response──▶ convert task (JsonConverter) ──Chunk──▶
//!   task loop: batch (≤ batch.size, round robin, ≤ max.poll.records per partition per turn)
//!     ──TransformChain──▶ WriteJob ──queue of ≤ batch.size records, ≤ 2 fetches' bytes──▶
//!   write stage: every queued job as one SinkWriter::write(records, positions)
//!     ──▶ destination (one atomic unit)
//! ```
//!
//! The three run at once: while the destination stores one write, the loop transforms what
//! was fetched meanwhile and the fetch tasks read ahead. The loop transforms records as soon as
//! they arrive while the write stage's queue has room (fewer than `batch.size` records and two
//! `max.partition.fetch.bytes` of them waiting); the write stage takes everything waiting as one
//! write. So writes are small when records trickle in (low latency) and grow to `batch.size`
//! when the destination is the slower part (fewer transactions, each carrying more rows).
//!
//! A position only moves with a successful write, so the destination never records a position
//! past data it does not hold; records that failed are logged/dead-lettered (acknowledged) or
//! fail the task before the write that moves past them. A task that stops or fails leaves the
//! batch it had transformed unwritten (it is read again on restart); records of it that were
//! dead-lettered then are dead-lettered again, as Connect's dead letter queue is at least once.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{BoxStream, SelectAll, StreamExt};
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, Mutex, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use walcast_connect_api::{
    ConnectRecord, ConnectorError, Position, SinkWriter, TaskContext, TopicPartition,
};
use walcast_kafka::Client;
use walcast_transforms::{Outcome, TransformChain};

use crate::batch::{buffered_records, take_batch, Batch, Part};
use crate::config::Settings;
use crate::convert::convert;
use crate::errors::{failed_transform_class, transform_class, ErrorHandler, Failure, Stage};
use crate::fetch::{self, FetchEvent, FetchSettings, Start};
use crate::metrics::TaskMetrics;
use crate::retry::{ms, sleep_or_stop, Backoff, Halt, DEFAULT_RETRY_BACKOFF};
use crate::write::{QueueRoom, WriteEvent, WriteJob, WriteStage};
use crate::SinkOptions;

/// How many `max.partition.fetch.bytes` of fetched records the task loop holds while the write
/// stage is busy (fewer when `batch.size` records come first).
const HOLD_FETCHES: usize = 2;
/// Jobs waiting for the write stage at most (their records are bounded by [`QueueRoom`]).
const QUEUED_JOBS_MAX: usize = 64;
/// How long connecting to Kafka may take before one attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Task {
    ctx: TaskContext,
    settings: Settings,
    options: SinkOptions,
    chain: TransformChain,
    /// `__connect.errors.class.name` for transformation failures.
    transform_class: String,
    client: Arc<Client>,
    errors: Arc<Mutex<ErrorHandler>>,
    metrics: TaskMetrics,
    parts: Vec<Part>,
    /// The topic-partition of each of `parts`, shared with the write jobs.
    tps: Arc<Vec<TopicPartition>>,
    /// Batches for the write stage, and what it reports back.
    jobs: mpsc::Sender<WriteJob>,
    /// Room in the write stage's queue.
    queue_room: Arc<QueueRoom>,
    written: mpsc::UnboundedReceiver<WriteEvent>,
    write_stage: Option<oneshot::Receiver<()>>,
    /// Cancelled when the task loop stops: the write stage starts no further batch.
    stop_writing: CancellationToken,
    index: HashMap<TopicPartition, usize>,
    /// Positions stored in the destination (what `open` returned, advanced by each write).
    stored: HashMap<TopicPartition, i64>,
    events: SelectAll<BoxStream<'static, (usize, FetchEvent)>>,
    /// Cancelled when the task ends, which stops every fetch task.
    fetchers: CancellationToken,
    fetch_settings: FetchSettings,
    /// Where the next round robin turn starts.
    turn: usize,
    /// Bytes of the records buffered in `parts` (key, value and headers as fetched).
    held_bytes: usize,
    next_discovery: Instant,
}

impl Drop for Task {
    fn drop(&mut self) {
        self.fetchers.cancel();
        self.stop_writing.cancel();
    }
}

/// A config problem list as one task error.
fn issues_error(issues: &[walcast_connect_api::ConfigIssue]) -> ConnectorError {
    let lines: Vec<String> = issues.iter().map(ToString::to_string).collect();
    ConnectorError::new(format!("invalid sink configuration: {}", lines.join("; ")))
}

fn halt_to_result(h: Halt) -> Result<(), ConnectorError> {
    match h {
        Halt::Shutdown => Ok(()),
        Halt::Fail(e) => Err(e),
    }
}

/// Runs one sink task until `ctx.shutdown` fires (Ok) or a fatal error (Err).
pub(crate) async fn run(
    ctx: TaskContext,
    writer: Box<dyn SinkWriter>,
    options: SinkOptions,
) -> Result<(), ConnectorError> {
    let settings =
        Settings::new(&ctx.config, &ctx.worker.properties).map_err(|i| issues_error(&i))?;
    let chain = TransformChain::from_config(&ctx.config)
        .map_err(|i| issues_error(&i))?
        .with_connector(&ctx.name);
    let mut task = match Task::start(ctx, settings, options, writer, chain).await {
        Ok(t) => t,
        Err(h) => return halt_to_result(h),
    };
    let result = task.run_loop().await;
    let write_failure = task.finish().await;
    match (result, write_failure) {
        (Err(h), _) => halt_to_result(h),
        (Ok(()), Some(h)) => halt_to_result(h),
        (Ok(()), None) => Ok(()),
    }
}

impl Task {
    async fn start(
        ctx: TaskContext,
        settings: Settings,
        options: SinkOptions,
        writer: Box<dyn SinkWriter>,
        chain: TransformChain,
    ) -> Result<Self, Halt> {
        let metrics = TaskMetrics::new(&ctx.name);
        let servers: Vec<String> = walcast_connect_api::split_list(&ctx.worker.bootstrap_servers);
        let mut backoff = Backoff::new(
            DEFAULT_RETRY_BACKOFF,
            settings.retry_delay_max,
            settings.retry_timeout,
            None,
        );
        let client_id = format!("walcast-sink-{}", ctx.name);
        // The consumer's security settings: worker `consumer.*` (or unprefixed) keys, beaten by
        // the connector's `consumer.override.*` ones. The dead letter queue shares the client.
        let mut props = ctx.worker.properties.clone();
        for (k, v) in &ctx.config {
            if let Some(rest) = k.strip_prefix("consumer.override.") {
                props.insert(format!("consumer.{rest}"), v.clone());
            }
        }
        let security = walcast_kafka::KafkaSecurity::from_properties(&props, "consumer")
            .map_err(|e| Halt::Fail(ConnectorError::from_error(&e)))?;
        let (client, errors) = loop {
            let attempt = async {
                let client =
                    walcast_kafka::connect_secure(&servers, &client_id, CONNECT_TIMEOUT, &security)
                        .await?;
                let errors = ErrorHandler::new(&ctx.name, &settings, &client, &metrics).await?;
                Ok::<_, walcast_kafka::KafkaError>((client, errors))
            };
            let result = tokio::select! {
                _ = ctx.shutdown.cancelled() => return Err(Halt::Shutdown),
                r = attempt => r,
            };
            match result {
                Ok(v) => break v,
                Err(e) if e.is_transient() || walcast_kafka::is_send_retryable(&e) => {
                    let Some(wait) = backoff.next_delay() else {
                        return Err(Halt::Fail(ConnectorError::from_error(&e)));
                    };
                    metrics.retries.increment(1);
                    tracing::warn!(error = %e, retry_in_ms = ms(wait), "kafka not reachable, retrying");
                    sleep_or_stop(&ctx.shutdown, wait).await?;
                }
                Err(e) => return Err(Halt::Fail(ConnectorError::from_error(&e))),
            }
        };
        let transform_class = transform_class(&ctx.config);
        let connector_class = ctx
            .config
            .get("connector.class")
            .cloned()
            .unwrap_or_else(|| "walcast.SinkConnector".to_owned());
        let budget_bytes = settings.fetch_max_bytes.min(Semaphore::MAX_PERMITS);
        let fetch_settings = FetchSettings {
            connector: ctx.name.clone(),
            max_partition_fetch_bytes: settings.max_partition_fetch_bytes,
            fetch_max_wait: settings.fetch_max_wait,
            reset_latest: settings.start_latest,
            retry_delay_max: settings.retry_delay_max,
            retry_timeout: settings.retry_timeout,
            budget: Arc::new(Semaphore::new(budget_bytes)),
            budget_bytes,
            retries: metrics.retries.clone(),
            key_schemas_enable: ctx.key_schemas_enable,
            value_schemas_enable: ctx.value_schemas_enable,
            value_fields: chain.envelope_projection(),
        };
        let errors = Arc::new(Mutex::new(errors));
        // Bounded by `queue_room`; the job count only needs to be large enough.
        let (jobs, job_rx) = mpsc::channel(QUEUED_JOBS_MAX);
        let queue_room = Arc::new(QueueRoom::new(
            options.batch_size,
            HOLD_FETCHES.saturating_mul(settings.max_partition_fetch_bytes),
        ));
        let (events, written) = mpsc::unbounded_channel();
        let stop_writing = ctx.shutdown.child_token();
        let stage = WriteStage {
            name: ctx.name.clone(),
            shutdown: ctx.shutdown.clone(),
            stop: stop_writing.clone(),
            writer,
            errors: errors.clone(),
            metrics: metrics.clone(),
            connector_class,
            options: options.clone(),
            queue_room: queue_room.clone(),
            retry_delay_max: settings.retry_delay_max,
            retry_timeout: settings.retry_timeout,
            events,
        };
        // The write stage opens the writer on its own thread (the destination's connection lives
        // there) and reports the stored positions before it takes any batch.
        let (write_stage, opened) = stage.spawn(job_rx)?;
        let stored = opened.await.unwrap_or_else(|_| {
            Err(Halt::Fail(ConnectorError::new(format!(
                "the write stage of sink connector {} stopped while opening the destination",
                ctx.name
            ))))
        })?;
        let write_stage = Some(write_stage);
        let mut task = Self {
            fetchers: ctx.shutdown.child_token(),
            ctx,
            settings,
            options,
            chain,
            transform_class,
            client,
            errors,
            metrics,
            parts: Vec::new(),
            tps: Arc::new(Vec::new()),
            jobs,
            queue_room,
            written,
            write_stage,
            stop_writing,
            index: HashMap::new(),
            stored,
            events: SelectAll::new(),
            fetch_settings,
            turn: 0,
            held_bytes: 0,
            next_discovery: Instant::now(),
        };
        task.discover().await;
        Ok(task)
    }

    /// Lists the cluster's topics and starts reading every matching partition not read yet.
    /// A failed listing is logged and retried at the next refresh.
    async fn discover(&mut self) {
        self.next_discovery = Instant::now() + self.settings.metadata_max_age;
        let topics = match walcast_kafka::list_topics(&self.client).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "listing kafka topics failed; trying again later");
                return;
            }
        };
        for t in topics {
            if !self.settings.topics.matches(&t.name) {
                continue;
            }
            for partition in 0..t.partitions {
                let tp = TopicPartition::new(t.name.clone(), partition);
                if self.index.contains_key(&tp) {
                    continue;
                }
                self.add_partition(tp);
            }
        }
    }

    fn add_partition(&mut self, tp: TopicPartition) {
        let start = match self.stored.get(&tp) {
            Some(&o) => Start::At(o),
            None if self.settings.start_latest => Start::Latest,
            None => Start::Earliest,
        };
        tracing::info!(topic = %tp.topic, partition = tp.partition, ?start, "reading partition");
        let idx = self.parts.len();
        let rx = fetch::spawn(
            self.client.clone(),
            tp.clone(),
            start,
            self.fetch_settings.clone(),
            self.fetchers.child_token(),
        );
        let stream = futures::stream::unfold(rx, move |mut rx| async move {
            rx.recv().await.map(|ev| ((idx, ev), rx))
        })
        .boxed();
        self.events.push(stream);
        let metrics = self.metrics.partition(&tp);
        if let Some(&pos) = self.stored.get(&tp) {
            metrics.position.set(pos as f64);
        }
        let mut tps = self.tps.as_ref().clone();
        tps.push(tp.clone());
        self.tps = Arc::new(tps);
        self.parts.push(Part {
            tp: tp.clone(),
            high_watermark: -1,
            buffered: VecDeque::new(),
            metrics,
        });
        self.index.insert(tp, idx);
    }
    /// Whether the loop takes more fetched records while the write stage is busy: up to one
    /// batch, and at most [`HOLD_FETCHES`] fetches' worth of bytes (records are held converted,
    /// which takes several times their size).
    fn has_room(&self, batch_size: usize) -> bool {
        buffered_records(&self.parts) < batch_size
            && self.held_bytes < HOLD_FETCHES * self.settings.max_partition_fetch_bytes.max(1024)
    }

    /// Takes a fetch task's report into the partition's buffer.
    fn accept(&mut self, (idx, event): (usize, FetchEvent)) -> Result<(), Halt> {
        match event {
            FetchEvent::Records(chunk) => {
                let Some(part) = self.parts.get_mut(idx) else {
                    return Ok(());
                };
                self.metrics.read.increment(chunk.records.len() as u64);
                self.held_bytes += chunk.records.iter().map(|f| f.raw.size()).sum::<usize>();
                part.high_watermark = chunk.high_watermark;
                // Without a stored position yet, the lag counts from the first record read.
                let from = self
                    .stored
                    .get(&part.tp)
                    .copied()
                    .or_else(|| chunk.records.front().map(|f| f.raw.offset));
                if let Some(pos) = from {
                    part.metrics
                        .lag
                        .set((chunk.high_watermark - pos).max(0) as f64);
                }
                part.buffered.push_back(chunk);
                Ok(())
            }
            FetchEvent::Failed(e) => Err(Halt::Fail(e)),
        }
    }

    /// Batches go to the write stage as soon as it can take one, holding everything fetched
    /// meanwhile (up to `batch.size`): one record at a time when records trickle in, full
    /// batches when the destination is the bottleneck.
    async fn run_loop(&mut self) -> Result<(), Halt> {
        let shutdown = self.ctx.shutdown.clone();
        let batch_size = self.options.batch_size.max(1);
        let jobs = self.jobs.clone();
        loop {
            let has_records = self.parts.iter().any(Part::has_records);
            // Fetched records wait in their fetch tasks (bounded) once a batch's worth is here.
            let room = self.has_room(batch_size);
            let wait_events = async {
                if self.events.is_empty() || !room {
                    futures::future::pending::<Option<(usize, FetchEvent)>>().await
                } else {
                    self.events.next().await
                }
            };
            let next_discovery = self.next_discovery;
            let room = self.queue_room.records_free();
            let queue_room = self.queue_room.clone();
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                ev = self.written.recv() => self.on_written(ev)?,
                permit = jobs.reserve(), if has_records && room > 0 => {
                    let Ok(permit) = permit else {
                        return Err(self.write_stage_gone());
                    };
                    // Take whatever else is ready without waiting.
                    while self.has_room(batch_size) {
                        match self.events.next().now_or_never() {
                            Some(Some(ev)) => self.accept(ev)?,
                            _ => break,
                        }
                    }
                    let (batch, bytes) = self.take_batch(room.min(batch_size));
                    if !batch.items.is_empty() {
                        let taken = self.queue_room.take(batch.items.len(), bytes);
                        let mut job = self.transform(batch).await?;
                        job.room = taken;
                        permit.send(job);
                    }
                }
                // The queue is full: wake up when the write stage takes from it.
                () = queue_room.freed(), if has_records && room == 0 => {}
                ev = wait_events => {
                    if let Some(ev) = ev {
                        self.accept(ev)?;
                    }
                }
                _ = tokio::time::sleep_until(next_discovery) => self.discover().await,
            }
        }
    }
    /// Takes up to `batch_size` buffered records, round robin over the partitions, at most
    /// `max.poll.records` from one partition per turn. Also returns the records' bytes.
    fn take_batch(&mut self, batch_size: usize) -> (Batch, usize) {
        let per_turn = self.settings.max_poll_records.max(1);
        let batch = take_batch(&mut self.parts, &mut self.turn, batch_size, per_turn);
        let taken: usize = batch.items.iter().map(|(_, r)| r.size()).sum();
        self.held_bytes = self.held_bytes.saturating_sub(taken);
        (batch, taken)
    }

    /// Converts and transforms one batch into a job for the write stage.
    async fn transform(&mut self, mut batch: Batch) -> Result<WriteJob, Halt> {
        let started = Instant::now();
        let (records, origin) = self.convert_and_transform(&mut batch).await?;
        tracing::trace!(
            records = records.len(),
            transform_ms = started.elapsed().as_secs_f64() * 1e3,
            "batch transformed"
        );
        Ok(WriteJob {
            records,
            origin,
            items: batch.items,
            tps: self.tps.clone(),
            positions: batch.positions,
            room: (0, 0),
        })
    }

    /// Takes the write stage's report: stored positions, or why it stopped.
    fn on_written(&mut self, ev: Option<WriteEvent>) -> Result<(), Halt> {
        match ev {
            Some(WriteEvent::Stored(positions)) => {
                self.stored_advanced(&positions);
                Ok(())
            }
            Some(WriteEvent::Spent(job)) => {
                drop(job);
                Ok(())
            }
            Some(WriteEvent::Stopped(h)) => Err(h),
            None => Err(self.write_stage_gone()),
        }
    }

    /// The write stage ended: why it said it stopped, or (it panicked) a task failure.
    fn write_stage_gone(&mut self) -> Halt {
        while let Ok(ev) = self.written.try_recv() {
            match ev {
                WriteEvent::Stored(positions) => self.stored_advanced(&positions),
                WriteEvent::Spent(_) => {}
                WriteEvent::Stopped(h) => return h,
            }
        }
        Halt::Fail(ConnectorError::new(format!(
            "the write stage of sink connector {} stopped unexpectedly",
            self.ctx.name
        )))
    }

    /// Stops the write stage after the write in progress and takes its last reports. Returns
    /// why it stopped if that was a failure.
    async fn finish(&mut self) -> Option<Halt> {
        self.stop_writing.cancel();
        if let Some(done) = self.write_stage.take() {
            // Err: the thread ended without saying so (it panicked); its reports are below.
            let _ = done.await;
        }
        let mut failure = None;
        while let Ok(ev) = self.written.try_recv() {
            match ev {
                WriteEvent::Stored(positions) => self.stored_advanced(&positions),
                WriteEvent::Spent(_) => {}
                WriteEvent::Stopped(Halt::Fail(e)) => failure = Some(Halt::Fail(e)),
                WriteEvent::Stopped(Halt::Shutdown) => {}
            }
        }
        failure
    }

    fn stored_advanced(&mut self, positions: &[Position]) {
        for p in positions {
            self.stored.insert(p.tp.clone(), p.next_offset);
            if let Some(part) = self.index.get(&p.tp).and_then(|&i| self.parts.get(i)) {
                part.metrics.position.set(p.next_offset as f64);
                if part.high_watermark >= 0 {
                    part.metrics
                        .lag
                        .set((part.high_watermark - p.next_offset).max(0) as f64);
                }
            }
        }
    }

    /// Converts the batch's records and runs the transform chain over them. Returns the kept
    /// records and, for each, the index of its raw record in `batch.items`. Failed records are
    /// handed to the error handler (which fails the task or dead-letters them) on the way.
    async fn convert_and_transform(
        &mut self,
        batch: &mut Batch,
    ) -> Result<(Vec<ConnectRecord>, Vec<usize>), Halt> {
        let key_se = self.ctx.key_schemas_enable;
        let value_se = self.ctx.value_schemas_enable;
        let mut converted = Vec::with_capacity(batch.items.len());
        let mut converted_idx = Vec::with_capacity(batch.items.len());
        let results = std::mem::take(&mut batch.converted);
        for (i, ((p, raw), result)) in batch.items.iter().zip(results).enumerate() {
            let topic = &self.parts[*p].tp.topic;
            match result {
                Ok(r) => {
                    converted.push(r);
                    converted_idx.push(i);
                }
                Err(f) => {
                    self.errors
                        .lock()
                        .await
                        .report(topic, raw, &f, &self.ctx.shutdown)
                        .await?;
                }
            }
        }
        let mut backoff = self.new_backoff();
        let outcomes = loop {
            // A record failing for a transient reason (its lookup store went away) is retried
            // with the whole batch, never dead-lettered.
            let result = self.chain.apply_batch(converted).await.and_then(|o| {
                match o.iter().find_map(|o| match o {
                    Outcome::Failed(e) if e.transient => Some(e.clone()),
                    _ => None,
                }) {
                    Some(e) => Err(e),
                    None => Ok(o),
                }
            });
            match result {
                Ok(o) => break o,
                Err(e) if e.transient => {
                    let Some(wait) = backoff.next_delay() else {
                        return Err(Halt::Fail(ConnectorError::new(format!(
                            "transforms kept failing for errors.retry.timeout: {e}"
                        ))));
                    };
                    self.metrics.retries.increment(1);
                    tracing::warn!(error = %e, retry = backoff.attempts, retry_in_ms = ms(wait), "transform failed transiently, retrying the batch");
                    sleep_or_stop(&self.ctx.shutdown, wait).await?;
                    // Conversion is deterministic: the same records convert again.
                    converted = converted_idx
                        .iter()
                        .filter_map(|&i| {
                            let (p, raw) = &batch.items[i];
                            convert(
                                &self.parts[*p].tp.topic,
                                raw,
                                key_se,
                                value_se,
                                self.fetch_settings.value_fields,
                            )
                            .ok()
                        })
                        .collect();
                }
                Err(e) => {
                    return Err(Halt::Fail(ConnectorError::new(format!(
                        "the transform chain failed on a batch of {} records: {e}",
                        converted_idx.len()
                    ))))
                }
            }
        };
        let mut kept = Vec::with_capacity(outcomes.len());
        let mut origin = Vec::with_capacity(outcomes.len());
        for (outcome, &i) in outcomes.into_iter().zip(converted_idx.iter()) {
            match outcome {
                Outcome::Keep(r) => {
                    kept.push(r);
                    origin.push(i);
                }
                Outcome::Dropped => self.metrics.skipped.increment(1),
                Outcome::Failed(e) => {
                    let (p, raw) = &batch.items[i];
                    let failure = Failure {
                        stage: Stage::Transformation,
                        class_name: failed_transform_class(&self.ctx.config, &e.message)
                            .unwrap_or_else(|| self.transform_class.clone()),
                        message: e.message,
                    };
                    self.errors
                        .lock()
                        .await
                        .report(&self.parts[*p].tp.topic, raw, &failure, &self.ctx.shutdown)
                        .await?;
                }
            }
        }
        Ok((kept, origin))
    }

    fn new_backoff(&self) -> Backoff {
        Backoff::for_connector(
            &self.options,
            self.settings.retry_delay_max,
            self.settings.retry_timeout,
        )
    }
}
