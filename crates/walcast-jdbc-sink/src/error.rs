//! PostgreSQL errors to [`SinkError`]s, classified by SQLSTATE in one place: lost connections,
//! serialization failures, deadlocks, lock timeouts and shutdowns are transient (retry the
//! batch); constraint violations and bad data are per-record data errors (the runtime isolates
//! the record); everything else — missing tables or columns, permissions, DDL problems — is
//! fatal with a message saying what to set or create.
//!
//! Messages carry PostgreSQL's SQLSTATE, message and hint and the names of the table, column
//! and constraint, but never row values: the detail of a 22xxx/23xxx error (which quotes the
//! offending value) is left out, and so is the quoted value at the end of a 22xxx message.

use walcast_connect_api::SinkError;

/// Whether a `CREATE TABLE` failed because another session created the same table at the same
/// moment.
pub(crate) fn is_concurrent_create(e: &tokio_postgres::Error) -> bool {
    e.code()
        .is_some_and(|c| walcast_pgwire::lost_create_race(c.code()))
}

/// Classify a `tokio-postgres` error hit while `context` (e.g. "writing table public.orders").
pub fn classify(e: &tokio_postgres::Error, context: &str) -> SinkError {
    let Some(db) = e.as_db_error() else {
        // No SQLSTATE: the connection broke, closed or timed out underneath the query.
        return SinkError::transient(format!("{context}: connection to PostgreSQL lost: {e}"));
    };
    let code = db.code().code();
    let class = &code[..2.min(code.len())];
    let mut msg = format!("{context}: PostgreSQL error {code}: ");
    let data = matches!(class, "22" | "23");
    let text = db.message();
    if class == "22" {
        // e.g. `invalid input syntax for type integer: "abc"`: keep the part before the value.
        msg.push_str(text.split(": \"").next().unwrap_or(text));
    } else {
        msg.push_str(text);
    }
    for (what, v) in [
        ("table", db.table()),
        ("column", db.column()),
        ("constraint", db.constraint()),
    ] {
        if let Some(v) = v {
            msg.push_str(&format!("; {what} {v}"));
        }
    }
    if !data {
        if let Some(d) = db.detail() {
            msg.push_str(&format!(" (detail: {d})"));
        }
    }
    if let Some(h) = db.hint() {
        msg.push_str(&format!(" (hint: {h})"));
    }
    if class == "08"
        || matches!(
            code,
            "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" | "53300" | "53400" | "42P07"
        )
    {
        return SinkError::transient(msg);
    }
    if data {
        return SinkError::data(msg);
    }
    let advice = match code {
        "42P01" => Some("create the table, or set auto.create=true (Confluent) / schema.evolution=basic (Debezium)"),
        "42703" => Some("add the column, or set auto.evolve=true (Confluent) / schema.evolution=basic (Debezium)"),
        "42501" => Some("grant the connector's user the privileges it needs on the table (and CREATE on the schema for auto.create)"),
        "42P10" => Some("upsert needs a primary key or unique index on exactly the key columns; add one, or change insert.mode / pk.fields"),
        "28P01" | "28000" => Some("check connection.user / connection.password"),
        "3D000" => Some("check the database name in connection.url"),
        _ => None,
    };
    if let Some(a) = advice {
        msg.push_str("; ");
        msg.push_str(a);
    }
    SinkError::fatal(msg)
}
