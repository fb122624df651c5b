//! The typed messages of PostgreSQL's `pgoutput` logical decoding plugin, protocol versions 1
//! to 4 ("Logical Replication Message Formats" in the PostgreSQL docs), as [`decode`] produces
//! them, and the conversion of the protocol's timestamps.
//!
//! Column values and logical-message contents are [`Bytes`] slices of the decoded payload, so a
//! message borrows nothing and holds no copy of the row's value bytes.
//!
//! [`decode`]: crate::decode

use bytes::Bytes;

use crate::catalog::{ReplicaIdentity, TableId};
use crate::lsn::Lsn;
use crate::tuple::TupleValue;

/// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 00:00:00 UTC), the
/// origin of every timestamp in the replication protocol.
pub const PG_EPOCH_UNIX_MICROS: i64 = 946_684_800_000_000;

/// Converts a protocol timestamp (µs since 2000-01-01) to milliseconds since the Unix epoch,
/// the unit of Debezium's `ts_ms` fields.
pub fn pg_micros_to_unix_millis(pg_micros: i64) -> i64 {
    pg_micros
        .saturating_add(PG_EPOCH_UNIX_MICROS)
        .div_euclid(1000)
}

/// One decoded pgoutput message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `B`: a (non-streamed) transaction starts.
    Begin(Begin),
    /// `C`: the transaction started by the last Begin committed.
    Commit(Commit),
    /// `O`: the transaction came from another node through replication origin `name`.
    Origin(Origin),
    /// `R`: the layout of a relation, sent before its first change in a session and after DDL.
    Relation(Relation),
    /// `Y`: a non-built-in type used by a following Relation.
    Type(TypeInfo),
    /// `I`: a row was inserted.
    Insert(Insert),
    /// `U`: a row was updated.
    Update(Update),
    /// `D`: a row was deleted.
    Delete(Delete),
    /// `T`: tables were truncated.
    Truncate(Truncate),
    /// `M`: `pg_logical_emit_message` output.
    Message(LogicalMessage),
    /// `S`: a block of a streamed (in-progress) transaction starts (v2+).
    StreamStart(StreamStart),
    /// `E`: the current streamed block ends (v2+).
    StreamStop,
    /// `c`: a streamed transaction committed (v2+).
    StreamCommit(StreamCommit),
    /// `A`: a streamed (sub)transaction aborted (v2+).
    StreamAbort(StreamAbort),
    /// `b`: a prepared transaction starts (v3, two-phase only).
    BeginPrepare(BeginPrepare),
    /// `P`: a transaction was prepared (v3, two-phase only).
    Prepare(Prepare),
    /// `K`: a prepared transaction committed (v3, two-phase only).
    CommitPrepared(CommitPrepared),
    /// `r`: a prepared transaction rolled back (v3, two-phase only).
    RollbackPrepared(RollbackPrepared),
    /// `p`: a streamed transaction was prepared (v3, two-phase only).
    StreamPrepare(Prepare),
}

impl Message {
    /// The message's name, for logs and errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Begin(_) => "Begin",
            Message::Commit(_) => "Commit",
            Message::Origin(_) => "Origin",
            Message::Relation(_) => "Relation",
            Message::Type(_) => "Type",
            Message::Insert(_) => "Insert",
            Message::Update(_) => "Update",
            Message::Delete(_) => "Delete",
            Message::Truncate(_) => "Truncate",
            Message::Message(_) => "Message",
            Message::StreamStart(_) => "Stream Start",
            Message::StreamStop => "Stream Stop",
            Message::StreamCommit(_) => "Stream Commit",
            Message::StreamAbort(_) => "Stream Abort",
            Message::BeginPrepare(_) => "Begin Prepare",
            Message::Prepare(_) => "Prepare",
            Message::CommitPrepared(_) => "Commit Prepared",
            Message::RollbackPrepared(_) => "Rollback Prepared",
            Message::StreamPrepare(_) => "Stream Prepare",
        }
    }
}

/// Start of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Begin {
    /// LSN of the commit record: the position to confirm once the whole transaction is durable.
    pub final_lsn: Lsn,
    /// Commit time, µs since 2000-01-01.
    pub commit_time: i64,
    /// Transaction id.
    pub xid: u32,
}

/// End of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Unused by PostgreSQL so far; kept so nothing is silently dropped.
    pub flags: u8,
    /// LSN of the commit record.
    pub commit_lsn: Lsn,
    /// End of the commit record: where streaming resumes after this transaction.
    pub end_lsn: Lsn,
    /// Commit time, µs since 2000-01-01.
    pub commit_time: i64,
}

/// Replication origin of the current transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Commit LSN on the origin server.
    pub commit_lsn: Lsn,
    /// Name as PostgreSQL spells it (unquoted).
    pub name: String,
}

/// One column of a Relation message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationColumn {
    /// Bit 1 set: part of the replica identity key.
    pub flags: u8,
    /// Name as PostgreSQL spells it (unquoted).
    pub name: String,
    /// `pg_type.oid` of the column's type (resolve with the schema module's `TypeCache`).
    pub type_oid: u32,
    /// `atttypmod`, -1 when none.
    pub type_modifier: i32,
}

impl RelationColumn {
    /// Whether the column is part of the replica identity (the key old-key tuples carry).
    pub fn is_key(&self) -> bool {
        self.flags & 1 != 0
    }
}

/// The layout of a relation as the following tuples use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Transaction id, inside a streamed block only.
    pub xid: Option<u32>,
    /// Object id in the catalog (`pg_class.oid` / `pg_type.oid`).
    pub oid: u32,
    /// Schema name; PostgreSQL sends an empty string for `pg_catalog`.
    pub namespace: String,
    /// Name as PostgreSQL spells it (unquoted).
    pub name: String,
    /// Which old values Update and Delete messages of this relation carry.
    pub replica_identity: ReplicaIdentity,
    /// Published columns, in tuple order.
    pub columns: Vec<RelationColumn>,
}

impl Relation {
    /// The relation's name as a [`TableId`] (an empty namespace means `pg_catalog`).
    pub fn table_id(&self) -> TableId {
        let schema = if self.namespace.is_empty() {
            "pg_catalog"
        } else {
            &self.namespace
        };
        TableId::new(schema, self.name.clone())
    }
}

/// A type announced before a Relation that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeInfo {
    /// Transaction id, inside a streamed block only.
    pub xid: Option<u32>,
    /// Object id in the catalog (`pg_class.oid` / `pg_type.oid`).
    pub oid: u32,
    /// Schema name; empty for `pg_catalog`.
    pub namespace: String,
    /// Name as PostgreSQL spells it (unquoted).
    pub name: String,
}

/// An inserted row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insert {
    /// Transaction id, inside a streamed block only.
    pub xid: Option<u32>,
    /// The relation the change belongs to: the last Relation message with this oid describes
    /// its columns.
    pub relation_oid: u32,
    /// The new row, in the relation's column order.
    pub new: Vec<TupleValue>,
}

/// The old values an Update or Delete carries, depending on the replica identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldTuple {
    /// `K`: only the replica identity key columns are meaningful (the others are null).
    Key(Vec<TupleValue>),
    /// `O`: the whole old row (REPLICA IDENTITY FULL).
    Full(Vec<TupleValue>),
}

impl OldTuple {
    /// The values, whichever kind this is.
    pub fn values(&self) -> &[TupleValue] {
        match self {
            OldTuple::Key(v) | OldTuple::Full(v) => v,
        }
    }

    /// Takes the values out, whichever kind this is.
    pub fn into_values(self) -> Vec<TupleValue> {
        match self {
            OldTuple::Key(v) | OldTuple::Full(v) => v,
        }
    }
}

/// An updated row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Transaction id, inside a streamed block only.
    pub xid: Option<u32>,
    /// The relation the change belongs to: the last Relation message with this oid describes
    /// its columns.
    pub relation_oid: u32,
    /// Present with REPLICA IDENTITY FULL, or when a key column changed.
    pub old: Option<OldTuple>,
    /// The new row; unchanged TOASTed values are [`TupleValue::UnchangedToast`].
    pub new: Vec<TupleValue>,
}

/// A deleted row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// Transaction id, inside a streamed block only.
    pub xid: Option<u32>,
    /// The relation the change belongs to: the last Relation message with this oid describes
    /// its columns.
    pub relation_oid: u32,
    /// The deleted row's key (or whole row with REPLICA IDENTITY FULL).
    pub old: OldTuple,
}

/// Truncated tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncate {
    /// Transaction id, inside a streamed block only.
    pub xid: Option<u32>,
    /// Bit 1: CASCADE, bit 2: RESTART IDENTITY.
    pub options: u8,
    /// The truncated relations (several when one TRUNCATE named several tables).
    pub relation_oids: Vec<u32>,
}

impl Truncate {
    /// `TRUNCATE ... CASCADE`.
    pub fn cascade(&self) -> bool {
        self.options & 1 != 0
    }

    /// `TRUNCATE ... RESTART IDENTITY`.
    pub fn restart_identity(&self) -> bool {
        self.options & 2 != 0
    }
}

/// A message written with `pg_logical_emit_message` (Debezium's logical decoding messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalMessage {
    /// Transaction id, inside a streamed block only.
    pub xid: Option<u32>,
    /// Bit 1: transactional (part of the surrounding transaction rather than emitted at once).
    pub flags: u8,
    /// LSN of the logical decoding message.
    pub lsn: Lsn,
    /// The prefix given to `pg_logical_emit_message`, which tells consumers whose message it is.
    pub prefix: String,
    /// The content, sliced from the input.
    pub content: Bytes,
}

impl LogicalMessage {
    /// Whether the message is part of a transaction (between Begin and Commit).
    pub fn transactional(&self) -> bool {
        self.flags & 1 != 0
    }
}

/// Start of a block of a streamed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStart {
    /// Transaction id.
    pub xid: u32,
    /// True for the first block of this transaction.
    pub first_segment: bool,
}

/// Commit of a streamed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCommit {
    /// Transaction id.
    pub xid: u32,
    /// Flag bits as sent; unused ones are kept so nothing is silently dropped.
    pub flags: u8,
    /// LSN of the commit record.
    pub commit_lsn: Lsn,
    /// End of the record: where streaming resumes after it.
    pub end_lsn: Lsn,
    /// Commit time, µs since 2000-01-01.
    pub commit_time: i64,
}

/// Abort of a streamed transaction (`subxid == xid`) or of one of its subtransactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAbort {
    /// Transaction id.
    pub xid: u32,
    /// The aborted (sub)transaction; equal to `xid` when the whole transaction aborted.
    pub subxid: u32,
    /// LSN of the abort record (v4 with `streaming = parallel` only).
    pub abort_lsn: Option<Lsn>,
    /// Abort time, µs since 2000-01-01 (v4 with `streaming = parallel` only).
    pub abort_time: Option<i64>,
}

/// Start of a prepared transaction (two-phase decoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeginPrepare {
    /// LSN of the PREPARE TRANSACTION record.
    pub prepare_lsn: Lsn,
    /// End of the record: where streaming resumes after it.
    pub end_lsn: Lsn,
    /// Prepare time, µs since 2000-01-01.
    pub prepare_time: i64,
    /// Transaction id.
    pub xid: u32,
    /// The transaction's global identifier (`PREPARE TRANSACTION 'gid'`).
    pub gid: String,
}

/// A transaction was prepared (also the body of Stream Prepare).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    /// Flag bits as sent; unused ones are kept so nothing is silently dropped.
    pub flags: u8,
    /// LSN of the PREPARE TRANSACTION record.
    pub prepare_lsn: Lsn,
    /// End of the record: where streaming resumes after it.
    pub end_lsn: Lsn,
    /// Prepare time, µs since 2000-01-01.
    pub prepare_time: i64,
    /// Transaction id.
    pub xid: u32,
    /// The global transaction identifier given to PREPARE TRANSACTION.
    pub gid: String,
}

/// A prepared transaction committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPrepared {
    /// Flag bits as sent; unused ones are kept so nothing is silently dropped.
    pub flags: u8,
    /// LSN of the commit record.
    pub commit_lsn: Lsn,
    /// End of the record: where streaming resumes after it.
    pub end_lsn: Lsn,
    /// Commit time, µs since 2000-01-01.
    pub commit_time: i64,
    /// Transaction id.
    pub xid: u32,
    /// The global transaction identifier given to PREPARE TRANSACTION.
    pub gid: String,
}

/// A prepared transaction rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackPrepared {
    /// Flag bits as sent; unused ones are kept so nothing is silently dropped.
    pub flags: u8,
    /// End LSN of the prepared transaction.
    pub prepare_end_lsn: Lsn,
    /// End LSN of the rollback.
    pub rollback_end_lsn: Lsn,
    /// Prepare time, µs since 2000-01-01.
    pub prepare_time: i64,
    /// Rollback time, µs since 2000-01-01.
    pub rollback_time: i64,
    /// Transaction id.
    pub xid: u32,
    /// The global transaction identifier given to PREPARE TRANSACTION.
    pub gid: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_convert_to_unix_millis() {
        assert_eq!(pg_micros_to_unix_millis(0), 946_684_800_000);
        assert_eq!(pg_micros_to_unix_millis(1_500), 946_684_800_001);
        assert_eq!(
            pg_micros_to_unix_millis(i64::MAX),
            (i64::MAX).div_euclid(1000)
        );
    }
}
