//! JDBC sink into PostgreSQL (placeholder docs, replaced below).

pub mod change;
pub mod config;
pub mod error;
pub mod types;
pub mod writer;

pub use config::{Dialect, JdbcSinkConfig};
pub use writer::{PgSinkWriter, WriteMethod};
