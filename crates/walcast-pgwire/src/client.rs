//! Normal (non-replication) `tokio-postgres` clients for the catalog and snapshot queries, opened
//! with the same host, credentials, TLS policy and session settings as the replication
//! connection.
//!
//! In: a [`PgConnectConfig`]. Out: a connected [`Client`] whose connection is driven by a spawned
//! task that ends when the client is dropped.

use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Socket};

use crate::config::{PgConnectConfig, SslMode};
use crate::error::PgError;
use crate::tls;

/// Opens a normal client (see the module docs).
pub async fn connect_client(config: &PgConnectConfig) -> Result<Client, PgError> {
    if config.sslmode == SslMode::Disable {
        connect_with(config, tokio_postgres::NoTls).await
    } else {
        let tls = tls::MakeRustlsConnect::new(tls::client_config(config)?);
        connect_with(config, tls).await
    }
}

async fn connect_with<T>(config: &PgConnectConfig, tls: T) -> Result<Client, PgError>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, conn) = config
        .tokio_postgres_config()
        .connect(tls)
        .await
        .map_err(|e| {
            PgError::query(
                format!(
                    "connecting to {}:{} as {}",
                    config.host, config.port, config.user
                ),
                e,
            )
        })?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "postgres connection ended");
        }
    });
    Ok(client)
}
