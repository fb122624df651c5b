//! Batch assembly: the records each partition's fetch task delivered, buffered per partition,
//! taken into one batch round robin. In: the partitions' buffered [`Chunk`]s. Out: a [`Batch`]
//! of raw and converted records with the next offset of every partition it covers.

use std::collections::{BTreeMap, VecDeque};

use walcast_connect_api::{ConnectRecord, Position, TopicPartition};
use walcast_kafka::ConsumedRecord;

use crate::errors::Failure;
use crate::fetch::Chunk;
use crate::metrics::PartitionMetrics;

/// One topic-partition the task reads.
pub(crate) struct Part {
    pub(crate) tp: TopicPartition,
    /// The latest high watermark a fetch reported.
    pub(crate) high_watermark: i64,
    /// Fetched records not yet taken into a batch, oldest first.
    pub(crate) buffered: VecDeque<Chunk>,
    pub(crate) metrics: PartitionMetrics,
}

impl Part {
    pub(crate) fn has_records(&self) -> bool {
        self.buffered.iter().any(|c| !c.records.is_empty())
    }
}

/// Records taken from the partitions for one write.
pub(crate) struct Batch {
    /// (index into `Task::parts`, record) in the order they were taken; each partition's records
    /// are in offset order.
    pub(crate) items: Vec<(usize, ConsumedRecord)>,
    /// What the JsonConverter made of each item (taken out by `convert_and_transform`).
    pub(crate) converted: Vec<Result<ConnectRecord, Failure>>,
    /// The next offset of every partition the batch covers.
    pub(crate) positions: Vec<Position>,
}

/// Records buffered over all partitions.
pub(crate) fn buffered_records(parts: &[Part]) -> usize {
    parts
        .iter()
        .flat_map(|p| p.buffered.iter())
        .map(|c| c.records.len())
        .sum()
}

/// Takes up to `batch_size` buffered records, round robin over the partitions starting at
/// `turn` (advanced past the last partition visited), at most `per_turn` from one partition
/// per turn.
pub(crate) fn take_batch(
    parts: &mut [Part],
    turn: &mut usize,
    batch_size: usize,
    per_turn: usize,
) -> Batch {
    let mut items = Vec::with_capacity(batch_size.min(buffered_records(parts)));
    let mut converted = Vec::with_capacity(items.capacity());
    let mut ends: BTreeMap<usize, i64> = BTreeMap::new();
    let n = parts.len();
    let mut idle_turns = 0;
    while items.len() < batch_size && n > 0 && idle_turns < n {
        let idx = *turn % n;
        *turn = (*turn + 1) % n;
        let part = &mut parts[idx];
        let mut took = 0;
        while took < per_turn && items.len() < batch_size {
            let Some(chunk) = part.buffered.front_mut() else {
                break;
            };
            match chunk.records.pop_front() {
                Some(f) => {
                    ends.insert(idx, f.raw.offset + 1);
                    items.push((idx, f.raw));
                    converted.push(f.converted);
                    took += 1;
                }
                None => {
                    part.buffered.pop_front();
                }
            }
        }
        // Release drained chunks' budget now rather than at the next turn.
        while part.buffered.front().is_some_and(|c| c.records.is_empty()) {
            part.buffered.pop_front();
        }
        if took == 0 {
            idle_turns += 1;
        } else {
            idle_turns = 0;
        }
    }
    let positions = ends
        .into_iter()
        .map(|(idx, next_offset)| Position {
            tp: parts[idx].tp.clone(),
            next_offset,
        })
        .collect();
    Batch {
        items,
        converted,
        positions,
    }
}
