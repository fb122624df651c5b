//! The destination tables: their catalog description, and `CREATE TABLE` /
//! `ALTER TABLE ADD COLUMN` from the records' Connect schemas when the configuration allows.
//! In: a table name and the batch's changes to it. Out: the table as the catalog describes it
//! (cached per connection by the caller).

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;
use walcast_connect_api::SinkError;
use walcast_pgwire::quote_ident;

use crate::change::{coords, Change, ChangeKind, Column, TableName};
use crate::config::{Dialect, JdbcSinkConfig};
use crate::error::classify;
use crate::types::pg_type;

/// A destination table as the catalog describes it.
#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    /// Quoted, schema-qualified when the name had a schema.
    pub(crate) sql: String,
    /// Column name → `format_type` of its type.
    pub(crate) columns: HashMap<String, String>,
    /// Primary key columns (for messages).
    pub(crate) pk: Vec<String>,
}

fn table_sql(name: &TableName) -> String {
    match &name.schema {
        Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&name.name)),
        None => quote_ident(&name.name),
    }
}

/// The table's catalog description, creating the table or adding columns when allowed.
/// `None` when the table does not exist and nothing in the batch can create it (only
/// truncates).
pub(crate) async fn ensure_table(
    tx: &Client,
    tables: &mut HashMap<TableName, TableInfo>,
    current_db: &str,
    cfg: &JdbcSinkConfig,
    name: &TableName,
    ops: &[Change<'_>],
) -> Result<Option<TableInfo>, SinkError> {
    if let Some(c) = &name.catalog {
        if c != current_db {
            return Err(SinkError::fatal(format!(
                "table {name} names database {c}, but the connection is to database {current_db}: \
                 Confluent's sink reads a.b.c as database.schema.table; route the topic with \
                 RegexRouter or set table.name.format to a name with at most one dot (schema.table), \
                 or to \"${{topic}}\" in double quotes to keep the dots in the table name"
            )));
        }
    }
    let sql = table_sql(name);
    let (evolve_key, create_key) = match cfg.dialect {
        Dialect::Confluent => ("auto.evolve=true", "auto.create=true"),
        Dialect::Debezium => ("schema.evolution=basic", "schema.evolution=basic"),
    };
    let mut info = match tables.get(name) {
        Some(i) => i.clone(),
        None => match load_table(tx, &sql, name).await? {
            Some(i) => i,
            None => {
                let Some(template) = ops
                    .iter()
                    .find(|c| c.kind == ChangeKind::Write)
                    .or(ops.first())
                else {
                    return Ok(None);
                };
                if !cfg.auto_create {
                    return Err(SinkError::fatal(format!(
                        "table {name} does not exist ({}); create it, or set {create_key} to let the sink create it",
                        coords(template.record)
                    )));
                }
                create_table(tx, &sql, name, template).await?;
                load_table(tx, &sql, name).await?.ok_or_else(|| {
                    SinkError::fatal(format!("table {name} is not visible after CREATE TABLE"))
                })?
            }
        },
    };
    // Columns the batch writes that the table lacks.
    let mut missing: Vec<&Column> = Vec::new();
    let mut seen = HashSet::new();
    // Rows of a batch mostly carry the same columns as the row before: those are not looked up
    // again.
    let mut last: Vec<&str> = Vec::new();
    for ch in ops {
        let n = ch.key.len() + ch.values.len();
        let cols = ch.key.iter().chain(ch.values.iter());
        if n == last.len() && cols.clone().zip(&last).all(|(c, l)| c.name.as_ref() == *l) {
            continue;
        }
        last.clear();
        for c in cols {
            last.push(c.name.as_ref());
            if !info.columns.contains_key(c.name.as_ref()) && seen.insert(c.name.as_ref()) {
                missing.push(c);
            }
        }
    }
    if !missing.is_empty() {
        if !cfg.auto_evolve {
            let names: Vec<&str> = missing.iter().map(|c| c.name.as_ref()).collect();
            return Err(SinkError::fatal(format!(
                "table {name} has no column {}; add it, or set {evolve_key} to let the sink add it",
                names.join(", ")
            )));
        }
        let mut alters = Vec::new();
        for c in &missing {
            let schema = c.schema.ok_or_else(|| {
                SinkError::fatal(format!(
                    "table {name} has no column {} and the records carry no schema to derive its type from; add the column, or enable schemas on the value converter",
                    c.name
                ))
            })?;
            alters.push(format!(
                "ADD COLUMN IF NOT EXISTS {} {}",
                quote_ident(&c.name),
                pg_type(schema)
            ));
        }
        tx.batch_execute(&format!("ALTER TABLE {sql} {}", alters.join(", ")))
            .await
            .map_err(|e| classify(&e, &format!("adding columns to table {name}")))?;
        tracing::info!(table = %name, columns = missing.len(), "added columns");
        info = load_table(tx, &sql, name)
            .await?
            .ok_or_else(|| SinkError::fatal(format!("table {name} disappeared")))?;
    }
    if !info.pk.is_empty() {
        tracing::trace!(table = %name, pk = ?info.pk, "table key");
    }
    tables.insert(name.clone(), info.clone());
    Ok(Some(info))
}

async fn load_table(
    tx: &Client,
    sql: &str,
    name: &TableName,
) -> Result<Option<TableInfo>, SinkError> {
    let ctx = format!("reading the definition of table {name}");
    let row = tx
        .query_one("SELECT to_regclass($1)::oid", &[&sql])
        .await
        .map_err(|e| classify(&e, &ctx))?;
    let Some(oid) = row.get::<_, Option<u32>>(0) else {
        return Ok(None);
    };
    let cols = tx
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
             coalesce(a.attnum = ANY(i.indkey::int2[]), false) \
             FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(|e| classify(&e, &ctx))?;
    let mut columns = HashMap::new();
    let mut pk = Vec::new();
    for r in &cols {
        let n: String = r.get(0);
        if r.get::<_, bool>(2) {
            pk.push(n.clone());
        }
        columns.insert(n, r.get(1));
    }
    Ok(Some(TableInfo {
        sql: sql.to_string(),
        columns,
        pk,
    }))
}

async fn create_table(
    tx: &Client,
    sql: &str,
    name: &TableName,
    template: &Change<'_>,
) -> Result<(), SinkError> {
    let mut defs = Vec::new();
    let mut keys = Vec::new();
    for c in &template.key {
        let schema = c.schema.ok_or_else(|| schemaless(name, template))?;
        defs.push(format!(
            "{} {} NOT NULL",
            quote_ident(&c.name),
            pg_type(schema)
        ));
        keys.push(quote_ident(&c.name));
    }
    for c in &template.values {
        let schema = c.schema.ok_or_else(|| schemaless(name, template))?;
        let not_null = if schema.optional { "" } else { " NOT NULL" };
        defs.push(format!(
            "{} {}{not_null}",
            quote_ident(&c.name),
            pg_type(schema)
        ));
    }
    if defs.is_empty() {
        return Err(SinkError::fatal(format!(
            "cannot create table {name}: the record ({}) has no fields",
            coords(template.record)
        )));
    }
    if !keys.is_empty() {
        defs.push(format!("PRIMARY KEY ({})", keys.join(", ")));
    }
    let ddl = format!("CREATE TABLE {sql} ({})", defs.join(", "));
    tracing::info!(table = %name, "creating table");
    tx.batch_execute(&ddl).await.map_err(|e| {
        if crate::error::is_concurrent_create(&e) {
            // Another task created it meanwhile: the retried batch finds it.
            SinkError::transient(format!(
                "creating table {name}: another task created it at the same moment ({e}); retrying the batch"
            ))
        } else {
            classify(&e, &format!("creating table {name}"))
        }
    })
}

fn schemaless(name: &TableName, ch: &Change<'_>) -> SinkError {
    SinkError::fatal(format!(
        "cannot create table {name}: the records ({}) carry no schema to derive column types from; create the table yourself, or enable schemas on the converter (value.converter.schemas.enable=true)",
        coords(ch.record)
    ))
}
