//! Starts a throwaway PostgreSQL (wal_level=logical), Redis and tansu broker on free ports, writes
//! their addresses as shell variables to the file given as the first argument (or stdout), and
//! keeps them running until SIGINT/SIGTERM, then removes them. Used by `make demo` and the
//! benchmark, so they get exactly the services the tests use.

use anyhow::{Context, Result};
use walcast_testkit::{Postgres, Redis, Tansu};

#[tokio::main]
async fn main() -> Result<()> {
    let out = std::env::args().nth(1);
    let pg = Postgres::start().await.context("starting PostgreSQL")?;
    let redis = Redis::start().await.context("starting Redis")?;
    let tansu = Tansu::start().await.context("starting tansu")?;
    let env = format!(
        "PGHOST=127.0.0.1\nPGPORT={}\nPGUSER=postgres\nPGPASSWORD=postgres\nPGDATABASE=postgres\nREDIS_URL={}\nBOOTSTRAP_SERVERS={}\n",
        pg.port(),
        redis.url(),
        tansu.bootstrap()
    );
    match &out {
        Some(path) => {
            let tmp = format!("{path}.part");
            std::fs::write(&tmp, &env)?;
            std::fs::rename(&tmp, path)?;
        }
        None => print!("{env}"),
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    drop((pg, redis, tansu));
    if let Some(path) = out {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
