//! The plan of one batch: records → [`Change`]s → per table, changes to the same key folded to
//! the last one (an unchanged-TOAST column takes the value an earlier change of the batch
//! wrote), then grouped into [`Shape`]s of rows that carry the same columns. In: the batch's
//! records. Out: per table, whether to truncate and the deletes and writes as shapes.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use walcast_connect_api::{ConnectRecord, Schema, SinkError, Value};

use crate::change::{Change, ChangeBuilder, ChangeKind, Column, TableName};
use crate::config::PkMode;
use crate::types::render;

/// The folded changes of one table in one batch.
#[derive(Default)]
pub(crate) struct TableBatch<'a> {
    pub(crate) truncate: bool,
    pub(crate) ops: Vec<Change<'a>>,
    /// Index in `ops` of each key's change; the key is its columns' text, each as `<len>:text`
    /// or `N` for null (one string per record, unambiguous).
    pub(crate) by_key: HashMap<String, usize, foldhash::fast::RandomState>,
}

/// The change that has the effect of `prev` followed by `next` on the same key: `next`, with
/// its unchanged-TOAST columns taken from `prev` when `prev` wrote them.
fn merge<'a>(prev: &Change<'a>, mut next: Change<'a>) -> Change<'a> {
    if next.kind == ChangeKind::Write && prev.kind == ChangeKind::Write {
        for c in next.values.iter_mut().filter(|c| c.value.is_none()) {
            if let Some(p) = prev.values.iter().find(|p| p.name == c.name) {
                c.value.clone_from(&p.value);
            }
        }
    }
    next
}

/// The columns of rows of one shape: name, its Connect schema (from the first row), whether it
/// is a key column.
pub(crate) struct Shape<'a> {
    pub(crate) cols: Vec<(String, Option<&'a Schema>, bool)>,
    pub(crate) rows: Vec<Vec<Option<&'a Value>>>,
}

/// Deleted keys as one shape of key columns.
pub(crate) fn key_shape<'a>(deletes: &[&'a Change<'a>]) -> Shape<'a> {
    let first = deletes[0];
    let cols = first
        .key
        .iter()
        .map(|c| (c.name.to_string(), c.schema, true))
        .collect();
    let rows = deletes
        .iter()
        .map(|c| c.key.iter().map(|k| k.value.as_deref()).collect())
        .collect();
    Shape { cols, rows }
}

/// Written rows grouped by which columns they carry (unchanged-TOAST columns left out).
pub(crate) fn write_shapes<'a>(ops: &'a [Change<'a>]) -> Vec<Shape<'a>> {
    let mut shapes: Vec<Shape<'a>> = Vec::new();
    let mut index: HashMap<Vec<&str>, usize> = HashMap::new();
    let mut last: Option<usize> = None;
    for ch in ops.iter().filter(|c| c.kind == ChangeKind::Write) {
        let present = |c: &&Column<'a>| c.value.is_some();
        let row = || -> Vec<Option<&'a Value>> {
            ch.key
                .iter()
                .chain(ch.values.iter())
                .filter_map(|c| c.value.as_ref().map(|v| Some(v.as_ref())))
                .collect()
        };
        // Rows of a batch mostly carry the same columns as the row before.
        if let Some(i) = last {
            let mut cols = shapes[i].cols.iter().map(|(n, _, _)| n.as_str());
            let same = ch
                .key
                .iter()
                .chain(ch.values.iter())
                .filter(present)
                .all(|c| cols.next() == Some(c.name.as_ref()))
                && cols.next().is_none();
            if same {
                shapes[i].rows.push(row());
                continue;
            }
        }
        let names: Vec<&str> = ch
            .key
            .iter()
            .chain(ch.values.iter())
            .filter(present)
            .map(|c| c.name.as_ref())
            .collect();
        let i = match index.get(&names) {
            Some(&i) => i,
            None => {
                let cols = ch
                    .key
                    .iter()
                    .map(|c| (c.name.to_string(), c.schema, true))
                    .chain(
                        ch.values
                            .iter()
                            .filter(present)
                            .map(|c| (c.name.to_string(), c.schema, false)),
                    )
                    .collect();
                // The first shape usually takes every row of the batch.
                let rows = if shapes.is_empty() {
                    Vec::with_capacity(ops.len())
                } else {
                    Vec::new()
                };
                shapes.push(Shape { cols, rows });
                index.insert(names, shapes.len() - 1);
                shapes.len() - 1
            }
        };
        shapes[i].rows.push(row());
        last = Some(i);
    }
    shapes
}

/// Records to per-table work, folded by key (unless `pk_mode` has no record key to fold on).
pub(crate) fn plan<'a>(
    builder: &ChangeBuilder,
    pk_mode: PkMode,
    records: &'a [ConnectRecord],
) -> Result<BTreeMap<Arc<TableName>, TableBatch<'a>>, SinkError> {
    let mut tables: BTreeMap<Arc<TableName>, TableBatch<'a>> = BTreeMap::new();
    let fold = !matches!(pk_mode, PkMode::None | PkMode::Kafka);
    let mut scratch = String::new();
    for r in records {
        let Some(ch) = builder.change(r)? else {
            continue;
        };
        let batch = tables.entry(Arc::clone(&ch.table)).or_default();
        if ch.kind == ChangeKind::Truncate {
            batch.truncate = true;
            batch.ops.clear();
            batch.by_key.clear();
            continue;
        }
        if !fold {
            batch.ops.push(ch);
            continue;
        }
        let mut key = String::new();
        for c in &ch.key {
            scratch.clear();
            let present = c
                .value
                .as_deref()
                .is_some_and(|v| render(c.schema, v, &mut scratch));
            if present {
                let _ = write!(key, "{}:", scratch.len());
                key.push_str(&scratch);
            } else {
                key.push('N');
            }
        }
        match batch.by_key.get(&key) {
            Some(&i) => {
                let prev = &batch.ops[i];
                let merged = merge(prev, ch);
                batch.ops[i] = merged;
            }
            None => {
                batch.by_key.insert(key, batch.ops.len());
                batch.ops.push(ch);
            }
        }
    }
    Ok(tables)
}
