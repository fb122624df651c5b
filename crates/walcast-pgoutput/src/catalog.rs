//! What walcast knows about a captured table: its columns in publication order (the order of
//! values in pgoutput tuples and in snapshot rows), their resolved PostgreSQL types, nullability,
//! defaults and primary key. Built from the system catalogs (pgoutput's Relation message carries
//! neither nullability, defaults nor the primary key) and rebuilt whenever a Relation message
//! announces a change.

/// Schema-qualified table name, as PostgreSQL spells it (unquoted, case preserved).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    pub schema: String,
    pub table: String,
}

impl TableId {
    pub fn new(schema: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            table: table.into(),
        }
    }
}

impl std::fmt::Display for TableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// `pg_class.relreplident`: which old values UPDATE and DELETE carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaIdentity {
    /// `d`: the primary key columns (old key only when it changed, always on delete).
    Default,
    /// `n`: nothing.
    Nothing,
    /// `f`: the whole old row.
    Full,
    /// `i`: the columns of a chosen unique index.
    Index,
}

impl ReplicaIdentity {
    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            b'd' => Some(Self::Default),
            b'n' => Some(Self::Nothing),
            b'f' => Some(Self::Full),
            b'i' => Some(Self::Index),
            _ => None,
        }
    }
}

/// A PostgreSQL data type, resolved through `pg_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgType {
    pub oid: u32,
    /// `pg_namespace.nspname` of the type (`pg_catalog` for built-ins, `public` for most
    /// extension types such as hstore).
    pub schema: String,
    /// `pg_type.typname` (`int4`, `varchar`, `_int4` for arrays, `hstore`, an enum's name...).
    pub name: String,
    pub kind: PgTypeKind,
}

/// What kind of type it is, with what the mapping needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgTypeKind {
    /// A base type, identified by oid for built-ins and by name for extension types.
    Base,
    /// An enum type with its labels in sort order.
    Enum { labels: Vec<String> },
    /// A domain over `base` (values arrive in the base type's text form).
    Domain {
        base: Box<PgType>,
        /// `pg_type.typtypmod` of the domain (e.g. the length of `varchar(20)` as a domain base).
        base_type_modifier: i32,
    },
    /// An array whose elements are of `element`.
    Array { element: Box<PgType> },
    /// A composite (row) type.
    Composite,
    /// A range or multirange type.
    Range,
    /// Anything else (pseudo types and the like).
    Other,
}

/// One published column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSchema {
    pub name: String,
    /// `pg_attribute.attnum`.
    pub attnum: i16,
    pub pg_type: PgType,
    /// `pg_attribute.atttypmod` (-1 when none): varchar length, numeric precision/scale,
    /// time precision...
    pub type_modifier: i32,
    /// False for `NOT NULL` columns (Connect schema `optional: false`).
    pub nullable: bool,
    /// `pg_get_expr(adbin, adrelid)` of the column default, if any (e.g. `'x'::text`,
    /// `nextval('t_id_seq'::regclass)`, `42`).
    pub default_expr: Option<String>,
    /// 1-based position in the primary key, if the column is part of it. For a table without a
    /// primary key whose REPLICA IDENTITY is a unique index, the position in that index (Debezium
    /// keys such tables by it).
    pub primary_key_position: Option<u16>,
}

/// A captured table as walcast encodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    /// `pg_class.oid`, the relation id pgoutput messages refer to.
    pub relation_oid: u32,
    pub id: TableId,
    /// Published columns in attnum order; tuple values are in this order.
    pub columns: Vec<ColumnSchema>,
    pub replica_identity: ReplicaIdentity,
}

impl TableSchema {
    /// Indexes into `columns` of the primary key columns, in primary key order.
    pub fn primary_key(&self) -> Vec<usize> {
        let mut pk: Vec<(u16, usize)> = self
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.primary_key_position.map(|p| (p, i)))
            .collect();
        pk.sort();
        pk.into_iter().map(|(_, i)| i).collect()
    }

    /// The index of a column by name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}
