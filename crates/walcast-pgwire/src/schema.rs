//! Catalog access over a normal `tokio-postgres` connection: the [`TableSchema`] of captured
//! tables (columns in the order pgoutput sends them, resolved types, nullability, defaults,
//! primary key), the server checks walcast runs before it starts, and the publication and slot
//! helpers it uses to set itself up.
//!
//! pgoutput's Relation message names the columns and their type oids but not nullability,
//! defaults or the primary key, which the Debezium schema needs; that is why the catalog is read
//! here and re-read whenever a Relation message announces a change.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use tokio_postgres::types::PgLsn;
use tokio_postgres::Client;

use crate::error::PgError;
use walcast_pgoutput::Lsn;
use walcast_pgoutput::{ColumnSchema, PgType, PgTypeKind, ReplicaIdentity, TableId, TableSchema};

/// Deepest type nesting followed (domain over array over domain...). Real schemas stay far below;
/// the limit only guards against a corrupted catalog sending the resolver in circles.
const MAX_TYPE_DEPTH: usize = 32;

/// Quotes an identifier for SQL the way `quote_ident` does: always in double quotes, inner
/// double quotes doubled. Always quoting keeps mixed-case and keyword names intact.
pub fn quote_ident(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for c in name.chars() {
        if c == '"' {
            s.push('"');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// `"schema"."table"`, quoted for SQL.
pub fn quote_table(id: &TableId) -> String {
    format!("{}.{}", quote_ident(&id.schema), quote_ident(&id.table))
}

/// Quotes a string literal for SQL (single quotes doubled). Used where the replication protocol
/// or DDL takes literals and bind parameters are not available.
pub fn quote_literal(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('\'');
    for c in value.chars() {
        if c == '\'' {
            s.push('\'');
        }
        s.push(c);
    }
    s.push('\'');
    s
}

/// Quotes a string literal in the escape syntax (`E'...'`: quotes doubled, backslashes
/// doubled), which reads the same whatever the server's `standard_conforming_strings`. For SQL
/// statements only: the replication protocol's commands take [`quote_literal`]'s form.
pub fn quote_escaped_literal(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 3);
    s.push_str("E'");
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\'' => s.push_str("''"),
            c => s.push(c),
        }
    }
    s.push('\'');
    s
}

/// Resolved types by oid, so loading many tables (or reloading one after a Relation message)
/// does not query `pg_type` again for `int4` and friends.
///
/// pgoutput sends a Type message before the first row that uses a non-built-in type; callers
/// should [`TypeCache::invalidate`] that oid so an altered enum or domain is read again.
#[derive(Debug, Default, Clone)]
pub struct TypeCache {
    types: HashMap<u32, PgType>,
}

impl TypeCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached type, if resolved before.
    pub fn get(&self, oid: u32) -> Option<&PgType> {
        self.types.get(&oid)
    }

    /// Forgets one type, so the next lookup reads the catalog again. Types that contain it
    /// (arrays of it, domains over it) are forgotten too.
    pub fn invalidate(&mut self, oid: u32) {
        self.types
            .retain(|k, t| *k != oid && !type_mentions(t, oid));
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.types.clear();
    }

    /// Number of cached types.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// The type with this oid, from the cache or the catalog (recursively resolving array
    /// elements and domain bases).
    pub async fn resolve(&mut self, client: &Client, oid: u32) -> Result<PgType, PgError> {
        self.resolve_depth(client, oid, 0).await
    }

    fn resolve_depth<'a>(
        &'a mut self,
        client: &'a Client,
        oid: u32,
        depth: usize,
    ) -> Pin<Box<dyn Future<Output = Result<PgType, PgError>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(t) = self.types.get(&oid) {
                return Ok(t.clone());
            }
            if depth > MAX_TYPE_DEPTH {
                return Err(PgError::Protocol(format!(
                    "type {oid} nests deeper than {MAX_TYPE_DEPTH} levels"
                )));
            }
            let row = client
                .query_opt(
                    "SELECT n.nspname, t.typname, t.typtype::text, t.typcategory::text, \
                            t.typelem, t.typbasetype, t.typtypmod, t.typlen \
                     FROM pg_catalog.pg_type t \
                     JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
                     WHERE t.oid = $1",
                    &[&oid],
                )
                .await
                .map_err(|e| PgError::query(format!("loading type {oid}"), e))?
                .ok_or(PgError::TypeNotFound { oid })?;
            let schema: String = get(&row, 0, "pg_type")?;
            let name: String = get(&row, 1, "pg_type")?;
            let typtype: String = get(&row, 2, "pg_type")?;
            let category: String = get(&row, 3, "pg_type")?;
            let elem: u32 = get(&row, 4, "pg_type")?;
            let basetype: u32 = get(&row, 5, "pg_type")?;
            let typtypmod: i32 = get(&row, 6, "pg_type")?;
            let typlen: i16 = get(&row, 7, "pg_type")?;
            let kind = match typtype.as_str() {
                "e" => {
                    let rows = client
                        .query(
                            "SELECT enumlabel::text FROM pg_catalog.pg_enum \
                             WHERE enumtypid = $1 ORDER BY enumsortorder",
                            &[&oid],
                        )
                        .await
                        .map_err(|e| PgError::query(format!("loading labels of enum {name}"), e))?;
                    let labels = rows
                        .iter()
                        .map(|r| get::<String>(r, 0, "pg_enum"))
                        .collect::<Result<Vec<_>, _>>()?;
                    PgTypeKind::Enum { labels }
                }
                "d" => {
                    let base = self.resolve_depth(client, basetype, depth + 1).await?;
                    PgTypeKind::Domain {
                        base: Box::new(base),
                        base_type_modifier: typtypmod,
                    }
                }
                "c" => PgTypeKind::Composite,
                "r" | "m" => PgTypeKind::Range,
                // Varlena types with array category and an element type are true arrays (the
                // fixed-length `name` and `point` also have an element type but are not).
                "b" if category == "A" && elem != 0 && typlen == -1 => {
                    let element = self.resolve_depth(client, elem, depth + 1).await?;
                    PgTypeKind::Array {
                        element: Box::new(element),
                    }
                }
                "b" => PgTypeKind::Base,
                _ => PgTypeKind::Other,
            };
            let t = PgType {
                oid,
                schema,
                name,
                kind,
            };
            self.types.insert(oid, t.clone());
            Ok(t)
        })
    }
}

fn type_mentions(t: &PgType, oid: u32) -> bool {
    match &t.kind {
        PgTypeKind::Domain { base, .. } => base.oid == oid || type_mentions(base, oid),
        PgTypeKind::Array { element } => element.oid == oid || type_mentions(element, oid),
        _ => false,
    }
}

/// Reads one column of a catalog row, naming the catalog on failure.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    idx: usize,
    what: &str,
) -> Result<T, PgError> {
    row.try_get(idx)
        .map_err(|e| PgError::query(format!("reading column {idx} of {what}"), e))
}

/// The schema of the table with this `pg_class` oid (the relation id of pgoutput messages).
pub async fn load_table_schema(client: &Client, relation_oid: u32) -> Result<TableSchema, PgError> {
    load_table_schema_cached(client, relation_oid, &mut TypeCache::new()).await
}

/// The schema of a table by name; the error names the table when it does not exist.
pub async fn load_table_schema_by_name(
    client: &Client,
    table: &TableId,
) -> Result<TableSchema, PgError> {
    let oid = table_oid(client, table).await?;
    load_table_schema(client, oid).await
}

/// The `pg_class` oid of a table (ordinary or partitioned), or [`PgError::TableNotFound`].
pub async fn table_oid(client: &Client, table: &TableId) -> Result<u32, PgError> {
    let row = client
        .query_opt(
            "SELECT c.oid FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&table.schema, &table.table],
        )
        .await
        .map_err(|e| PgError::query(format!("looking up table {table}"), e))?
        .ok_or_else(|| PgError::TableNotFound {
            table: table.to_string(),
        })?;
    get(&row, 0, "pg_class")
}

/// Like [`load_table_schema`], resolving types through (and filling) a shared [`TypeCache`].
pub async fn load_table_schema_cached(
    client: &Client,
    relation_oid: u32,
    types: &mut TypeCache,
) -> Result<TableSchema, PgError> {
    let rel = client
        .query_opt(
            "SELECT n.nspname, c.relname, c.relreplident::text \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = $1",
            &[&relation_oid],
        )
        .await
        .map_err(|e| PgError::query(format!("loading relation {relation_oid}"), e))?
        .ok_or(PgError::RelationNotFound { oid: relation_oid })?;
    let id = TableId::new(
        get::<String>(&rel, 0, "pg_class")?,
        get::<String>(&rel, 1, "pg_class")?,
    );
    let replident: String = get(&rel, 2, "pg_class")?;
    let replica_identity = replident
        .bytes()
        .next()
        .and_then(ReplicaIdentity::from_code)
        .ok_or_else(|| {
            PgError::Protocol(format!("table {id} has unknown relreplident {replident:?}"))
        })?;

    // Generated columns are left out because pgoutput (PG 15) does not publish them; the
    // remaining attnum order is the order of values in Relation and tuple messages. The key is
    // the primary key or, for a table without one, its REPLICA IDENTITY USING INDEX columns:
    // Debezium keys such tables by that index.
    let rows = client
        .query(
            "SELECT a.attname::text, a.attnum, a.atttypid, a.atttypmod, a.attnotnull, \
                    pg_catalog.pg_get_expr(d.adbin, d.adrelid), \
                    (SELECT k.ord::int4 \
                       FROM pg_catalog.pg_index i, \
                            unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                      WHERE i.indrelid = a.attrelid AND k.attnum = a.attnum \
                        AND (i.indisprimary \
                             OR (i.indisreplident AND NOT EXISTS ( \
                                   SELECT 1 FROM pg_catalog.pg_index p \
                                    WHERE p.indrelid = a.attrelid AND p.indisprimary))) \
                      LIMIT 1) \
             FROM pg_catalog.pg_attribute a \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
               AND a.attgenerated = '' \
             ORDER BY a.attnum",
            &[&relation_oid],
        )
        .await
        .map_err(|e| PgError::query(format!("loading columns of {id}"), e))?;
    let mut columns = Vec::with_capacity(rows.len());
    for row in &rows {
        let type_oid: u32 = get(row, 2, "pg_attribute")?;
        let pk: Option<i32> = get(row, 6, "pg_index")?;
        columns.push(ColumnSchema {
            name: get(row, 0, "pg_attribute")?,
            attnum: get(row, 1, "pg_attribute")?,
            pg_type: types.resolve(client, type_oid).await?,
            type_modifier: get(row, 3, "pg_attribute")?,
            nullable: !get::<bool>(row, 4, "pg_attribute")?,
            default_expr: get(row, 5, "pg_attrdef")?,
            primary_key_position: pk.and_then(|p| u16::try_from(p).ok()),
        });
    }
    Ok(TableSchema {
        relation_oid,
        id,
        columns,
        replica_identity,
    })
}

/// Every ordinary and partitioned table outside the system schemas, as `(oid, name)`, sorted by
/// name. This is what "capture all tables" means before include/exclude lists are applied.
pub async fn list_tables(client: &Client) -> Result<Vec<(u32, TableId)>, PgError> {
    let rows = client
        .query(
            "SELECT c.oid, n.nspname::text, c.relname::text \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
               AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%' \
               AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
             ORDER BY 2, 3",
            &[],
        )
        .await
        .map_err(|e| PgError::query("listing tables", e))?;
    rows.iter()
        .map(|r| {
            Ok((
                get(r, 0, "pg_class")?,
                TableId::new(
                    get::<String>(r, 1, "pg_class")?,
                    get::<String>(r, 2, "pg_class")?,
                ),
            ))
        })
        .collect()
}

/// Fails with a message that says what to change unless the server can do logical decoding for
/// this role: `wal_level` must be `logical`, and the role needs REPLICATION (or superuser).
pub async fn check_logical_replication(client: &Client) -> Result<(), PgError> {
    let row = client
        .query_one("SELECT current_setting('wal_level')", &[])
        .await
        .map_err(|e| PgError::query("reading wal_level", e))?;
    let wal_level: String = get(&row, 0, "wal_level")?;
    if wal_level != "logical" {
        return Err(PgError::WalLevelNotLogical { actual: wal_level });
    }
    check_replication_role(client).await
}

/// Fails unless the current role has the REPLICATION attribute or is a superuser, which
/// replication connections require.
pub async fn check_replication_role(client: &Client) -> Result<(), PgError> {
    let row = client
        .query_one(
            "SELECT current_user::text, rolreplication, rolsuper \
             FROM pg_catalog.pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading the current role's attributes", e))?;
    let role: String = get(&row, 0, "pg_roles")?;
    let replication: bool = get(&row, 1, "pg_roles")?;
    let superuser: bool = get(&row, 2, "pg_roles")?;
    if replication || superuser {
        Ok(())
    } else {
        Err(PgError::MissingReplicationPrivilege { role })
    }
}

/// Whether a publication with this name exists in the connected database.
pub async fn publication_exists(client: &Client, name: &str) -> Result<bool, PgError> {
    let row = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1",
            &[&name],
        )
        .await
        .map_err(|e| PgError::query(format!("looking up publication {name:?}"), e))?;
    Ok(row.is_some())
}

/// `CREATE PUBLICATION name FOR ALL TABLES` (needs superuser), Debezium's `all_tables` mode.
pub async fn create_publication_all_tables(client: &Client, name: &str) -> Result<(), PgError> {
    let sql = format!("CREATE PUBLICATION {} FOR ALL TABLES", quote_ident(name));
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| PgError::query(format!("creating publication {name:?} for all tables"), e))
}

fn table_list(tables: &[TableId]) -> String {
    tables
        .iter()
        .map(quote_table)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `CREATE PUBLICATION name FOR TABLE ...` (Debezium's `filtered` mode). An empty list creates a
/// publication with no tables, which [`set_publication_tables`] can fill later.
pub async fn create_publication_for_tables(
    client: &Client,
    name: &str,
    tables: &[TableId],
) -> Result<(), PgError> {
    let mut sql = format!("CREATE PUBLICATION {}", quote_ident(name));
    if !tables.is_empty() {
        sql.push_str(" FOR TABLE ");
        sql.push_str(&table_list(tables));
    }
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| PgError::query(format!("creating publication {name:?}"), e))
}

/// Makes the publication contain exactly these tables (`ALTER PUBLICATION ... SET TABLE`), used
/// when the include list changes. An empty list removes every table.
pub async fn set_publication_tables(
    client: &Client,
    name: &str,
    tables: &[TableId],
) -> Result<(), PgError> {
    let sql = if tables.is_empty() {
        let current = publication_tables(client, name).await?;
        if current.is_empty() {
            return Ok(());
        }
        format!(
            "ALTER PUBLICATION {} DROP TABLE {}",
            quote_ident(name),
            table_list(&current)
        )
    } else {
        format!(
            "ALTER PUBLICATION {} SET TABLE {}",
            quote_ident(name),
            table_list(tables)
        )
    };
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| PgError::query(format!("changing the tables of publication {name:?}"), e))
}

/// The tables a publication publishes (partitions expanded as PostgreSQL reports them), sorted.
/// Fails with [`PgError::PublicationNotFound`] when it does not exist.
pub async fn publication_tables(client: &Client, name: &str) -> Result<Vec<TableId>, PgError> {
    if !publication_exists(client, name).await? {
        return Err(PgError::PublicationNotFound {
            publication: name.to_string(),
        });
    }
    let rows = client
        .query(
            "SELECT schemaname::text, tablename::text FROM pg_catalog.pg_publication_tables \
             WHERE pubname = $1 ORDER BY 1, 2",
            &[&name],
        )
        .await
        .map_err(|e| PgError::query(format!("listing tables of publication {name:?}"), e))?;
    rows.iter()
        .map(|r| {
            Ok(TableId::new(
                get::<String>(r, 0, "pg_publication_tables")?,
                get::<String>(r, 1, "pg_publication_tables")?,
            ))
        })
        .collect()
}

/// A replication slot as `pg_replication_slots` shows it: enough to decide whether walcast can
/// resume from it (right plugin, right database, not held by another process) and how far it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotInfo {
    /// Output plugin (`pgoutput` for walcast's slots; `None` for physical slots).
    pub plugin: Option<String>,
    /// Whether a walsender is streaming from it right now.
    pub active: bool,
    /// The process streaming from it, when active (to name the culprit of "slot is in use").
    pub active_pid: Option<i32>,
    /// Everything before this has been confirmed by the consumer; streaming resumes here.
    pub confirmed_flush_lsn: Option<Lsn>,
    /// The oldest WAL the slot still holds back from removal.
    pub restart_lsn: Option<Lsn>,
    /// The database a logical slot decodes (`None` for physical slots).
    pub database: Option<String>,
    /// Whether the slot disappears when its session ends.
    pub temporary: bool,
}

/// The slot with this name, or `None` when it does not exist.
pub async fn slot_info(client: &Client, name: &str) -> Result<Option<SlotInfo>, PgError> {
    let row = client
        .query_opt(
            "SELECT plugin::text, active, active_pid, confirmed_flush_lsn, restart_lsn, \
                    database::text, temporary \
             FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
            &[&name],
        )
        .await
        .map_err(|e| PgError::query(format!("reading replication slot {name:?}"), e))?;
    let Some(row) = row else { return Ok(None) };
    let lsn = |idx| -> Result<Option<Lsn>, PgError> {
        Ok(get::<Option<PgLsn>>(&row, idx, "pg_replication_slots")?.map(|l| Lsn(u64::from(l))))
    };
    Ok(Some(SlotInfo {
        plugin: get(&row, 0, "pg_replication_slots")?,
        active: get(&row, 1, "pg_replication_slots")?,
        active_pid: get(&row, 2, "pg_replication_slots")?,
        confirmed_flush_lsn: lsn(3)?,
        restart_lsn: lsn(4)?,
        database: get(&row, 5, "pg_replication_slots")?,
        temporary: get(&row, 6, "pg_replication_slots")?,
    }))
}

/// How many bytes of WAL the slot's consumer is behind the server's current write position
/// (`pg_current_wal_lsn() - confirmed_flush_lsn`), for lag metrics. `None` when the slot has never
/// confirmed anything; [`PgError::SlotNotFound`] when it does not exist.
pub async fn slot_lag_bytes(client: &Client, name: &str) -> Result<Option<u64>, PgError> {
    let row = client
        .query_opt(
            "SELECT (pg_catalog.pg_current_wal_lsn() - confirmed_flush_lsn)::int8 \
             FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
            &[&name],
        )
        .await
        .map_err(|e| PgError::query(format!("measuring lag of replication slot {name:?}"), e))?
        .ok_or_else(|| PgError::SlotNotFound {
            slot: name.to_string(),
        })?;
    let lag: Option<i64> = get(&row, 0, "pg_replication_slots")?;
    Ok(lag.map(|l| u64::try_from(l).unwrap_or(0)))
}

/// Drops a replication slot over a normal connection (`pg_drop_replication_slot`); used when a
/// connector is deleted. Returns false when there was no such slot.
pub async fn drop_slot_if_exists(client: &Client, name: &str) -> Result<bool, PgError> {
    let row = client
        .query_opt(
            "SELECT pg_catalog.pg_drop_replication_slot(slot_name)::text \
             FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
            &[&name],
        )
        .await
        .map_err(|e| PgError::query(format!("dropping replication slot {name:?}"), e))?;
    Ok(row.is_some())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("Orders"), "\"Orders\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(
            quote_table(&TableId::new("my schema", "T")),
            "\"my schema\".\"T\""
        );
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_escaped_literal(r"it's a \ "), r"E'it''s a \\ '");
    }
}
