//! The `walcast` binary: a thin shell around [`walcast_connect::run`]. It parses the command
//! line (`walcast standalone WORKER.properties [CONNECTOR...]`, like `connect-standalone.sh`),
//! sets up logging, turns SIGTERM/SIGINT into a clean shutdown, and maps errors to exit codes:
//! 0 after a clean shutdown, 1 for bad configuration, 2 when the REST port is taken (and for
//! command-line usage errors, as clap does).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use walcast_connect::{WorkerConfig, WorkerError};
use walcast_connect_api::ConnectorPlugin;

const AFTER_HELP: &str = "\
Example:
  walcast standalone deploy/worker.properties
  curl -X POST -H 'Content-Type: application/json' localhost:8083/connectors \\
       -d @deploy/connect/orders-source.json

Exit codes:
  0  clean shutdown (SIGTERM/SIGINT)
  1  bad configuration (the message names the file, line or key)
  2  the REST port is taken, or a command-line usage error

Environment:
  WALCAST_<KEY>        overrides a worker property: WALCAST_BOOTSTRAP_SERVERS=host:9092 sets
                       bootstrap.servers (dots become underscores, upper case)
  RUST_LOG             log filter (default info,rskafka=warn), e.g. RUST_LOG=debug
  WALCAST_LOG_FORMAT   json for one JSON object per log line";

#[derive(Parser)]
#[command(
    name = "walcast",
    version,
    about = "PostgreSQL change data capture into Kafka and on to PostgreSQL and Redis: a drop-in for Kafka Connect + Debezium",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a worker, like Kafka Connect's connect-standalone.sh.
    #[command(after_help = AFTER_HELP)]
    Standalone {
        /// Worker properties (Connect's worker keys: bootstrap.servers, listeners, ...).
        worker_properties: PathBuf,
        /// Connector configs to start at boot: Java properties (with name=...) or the JSON
        /// you would POST to /connectors.
        connectors: Vec<PathBuf>,
    },
    /// Print every connector's configuration keys as Markdown tables (the README's reference).
    ConfigDocs,
}

/// The connector classes compiled into this binary. Registration is explicit: each plugin is
/// one line here.
fn plugins() -> Vec<Arc<dyn ConnectorPlugin>> {
    vec![
        Arc::new(walcast_postgres_source::PostgresSourcePlugin),
        Arc::new(walcast_jdbc_sink::JdbcSinkPlugin::CONFLUENT),
        Arc::new(walcast_jdbc_sink::JdbcSinkPlugin::DEBEZIUM),
        Arc::new(walcast_redis_sink::RedisSinkPlugin),
    ]
}

/// Markdown tables of every registered connector's keys, generated from their declarations.
fn config_docs() -> String {
    let mut out = String::new();
    for p in plugins() {
        out.push_str(&format!("### `{}` ({})\n\n", p.class(), p.kind().as_str()));
        if !p.aliases().is_empty() {
            out.push_str(&format!(
                "Also accepted as: {}.\n\n",
                p.aliases().join(", ")
            ));
        }
        out.push_str(&walcast_connect_api::config::docs_markdown(p.config_keys()));
        out.push('\n');
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let (worker_properties, connectors) = match cli.command {
        Command::Standalone {
            worker_properties,
            connectors,
        } => (worker_properties, connectors),
        Command::ConfigDocs => {
            print!("{}", config_docs());
            return ExitCode::SUCCESS;
        }
    };

    let config = match WorkerConfig::load(&worker_properties, &connectors) {
        Ok(c) => c,
        Err(e) => return fail(&WorkerError::from(e)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(watch_signals(shutdown.clone()));
        walcast_connect::run(config, plugins(), shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Print the error with its causes and choose the exit code.
fn fail(e: &WorkerError) -> ExitCode {
    let mut msg = format!("error: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        // thiserror's `{source}` in a message already shows the first cause.
        if !msg.contains(&text) {
            msg.push_str("\n  caused by: ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    eprintln!("{msg}");
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
}

/// First SIGTERM/SIGINT: shut down cleanly (tasks flush). Second: exit at once.
async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cannot install signal handlers; stop walcast with SIGKILL");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received: stopping connectors"),
        _ = int.recv() => tracing::info!("SIGINT received: stopping connectors"),
    }
    shutdown.cancel();
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::warn!("second signal: exiting without waiting for connectors to finish");
    std::process::exit(130);
}

/// Logs go to stderr; `RUST_LOG` filters (default `info`), `WALCAST_LOG_FORMAT=json` switches to
/// one JSON object per line for log shippers.
fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    // The Kafka client logs every connection at info; its warnings are what operators need.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rskafka=warn"));
    let json = std::env::var("WALCAST_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        // Values resolved from config providers never reach the log, even when a connector
        // puts one in a message.
        .with_writer(|| walcast_connect::redact::ScrubbingWriter(std::io::stderr()));
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
