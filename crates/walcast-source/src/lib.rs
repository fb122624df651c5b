//! The PostgreSQL source connector (`io.debezium.connector.postgresql.PostgresConnector`):
//! snapshot and streaming from a logical replication slot, Debezium-compatible events into Kafka,
//! and the slot's LSN confirmed only once Kafka has acknowledged everything before it.

pub mod config;
pub mod spill;
pub mod state;
