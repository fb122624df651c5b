//! Starts a throwaway PostgreSQL (wal_level=logical), Redis and tansu broker on free ports, and
//! with `--results-db` a second PostgreSQL for a sink's results. Writes their addresses as shell
//! variables to ENV_FILE (or stdout) and keeps them running until SIGINT/SIGTERM, then removes
//! them. Used by `make demo` and the benchmark, so they get exactly the services the tests use.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use walcast_testkit::{Postgres, Redis, Tansu};

#[derive(Parser)]
#[command(
    name = "walcast-services",
    about = "Start throwaway PostgreSQL, Redis and a Kafka-API broker (tansu) on free ports until Ctrl-C",
    after_help = "Variables written: PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE REDIS_URL REDIS_PORT \
BOOTSTRAP_SERVERS, and with --results-db RESULTS_PGPORT.\n\nExample:\n  walcast-services /tmp/services.env &\n  . /tmp/services.env && psql -c 'select 1'"
)]
struct Args {
    /// File to write the shell variables to (written atomically once everything is up);
    /// stdout when omitted.
    env_file: Option<PathBuf>,
    /// Also start a second PostgreSQL for results (its port in RESULTS_PGPORT).
    #[arg(long)]
    results_db: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let pg = Postgres::start().await.context("starting PostgreSQL")?;
    let results = if args.results_db {
        Some(
            Postgres::start()
                .await
                .context("starting the results PostgreSQL")?,
        )
    } else {
        None
    };
    let redis = Redis::start().await.context("starting Redis")?;
    let tansu = Tansu::start().await.context("starting tansu")?;
    let mut env = format!(
        "PGHOST=127.0.0.1\nPGPORT={}\nPGUSER=postgres\nPGPASSWORD=postgres\nPGDATABASE=postgres\nREDIS_URL={}\nREDIS_PORT={}\nBOOTSTRAP_SERVERS={}\n",
        pg.port(),
        redis.url(),
        redis.port(),
        tansu.bootstrap()
    );
    if let Some(r) = &results {
        env.push_str(&format!("RESULTS_PGPORT={}\n", r.port()));
    }
    match &args.env_file {
        Some(path) => {
            let tmp = path.with_extension("part");
            std::fs::write(&tmp, &env).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        None => print!("{env}"),
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    drop((pg, results, redis, tansu));
    if let Some(path) = args.env_file {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}
