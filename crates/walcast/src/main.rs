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

/// mimalloc instead of glibc's malloc: the sink allocates and frees a tree of values per record
/// from several threads, where glibc spent about a third of the sink's CPU time and let per-thread
/// arenas grow the resident set well past the data actually held (benches/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (its index in mimalloc 3's `mi_option_t`).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc's `allow_thp` option (its index in mimalloc 3's `mi_option_t`).
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;
/// How long freed memory stays with the process before it is returned to the OS. mimalloc 3
/// keeps it for a second, which let a worker running a source and two sinks at full speed hold
/// 150 MB of pages it had already freed. With transparent huge pages off (below), 30 ms keeps
/// the resident set near what is in use and spares most of the page faults of taking freed
/// pages back (10 ms cost the results sink about 5 % more CPU; 200 ms saved 2 % more and held
/// 10 MB more; benches/RESULTS.md). `MIMALLOC_PURGE_DELAY` (milliseconds) overrides it.
const PURGE_DELAY_MS: std::os::raw::c_long = 30;

/// The allocator's settings, before any thread starts.
///
/// Transparent huge pages are turned off for the process (`MIMALLOC_ALLOW_THP=1` keeps them): a
/// freed and purged 4 KiB page came back as part of a 2 MiB one that the kernel zeroed whole, and
/// a purge could not return a huge page in part. Off, a results-sink drain peaked at 40-45 MB
/// instead of 60-66 and an uncompressed source drain at 35-45 MB instead of 50, as fast or
/// faster (benches/RESULTS.md).
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an integer option of the allocator; any value is valid for it.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
        }
    }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: an integer option of the allocator (0 or 1), and a prctl that only sets a flag
        // of this process (the kernel checks it at each page fault, so it covers memory the
        // allocator maps from now on). A kernel without it answers with an error, ignored.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0);
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

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
    let mut out = String::from(
        "# walcast configuration reference\n\nGenerated by `walcast config-docs` from the connectors' own key declarations.\n\n## Connectors\n\n",
    );
    for p in plugins() {
        out.push_str(&format!("### `{}` ({})\n\n", p.class(), p.kind().as_str()));
        if !p.aliases().is_empty() {
            out.push_str(&format!(
                "Also accepted as: {}.\n\n",
                p.aliases().join(", ")
            ));
        }
        out.push_str(&walcast_connect_api::docs_markdown(p.config_keys()));
        out.push('\n');
    }
    out.push_str("## Transforms\n\nKeys go under `transforms.<alias>.` (with `transforms.<alias>.type` naming the class).\n\n");
    for (class, keys) in walcast_transforms::config_defs() {
        out.push_str(&format!("### `{class}`\n\n"));
        out.push_str(&walcast_connect_api::docs_markdown(keys));
        out.push('\n');
    }
    out
}

fn main() -> ExitCode {
    tune_allocator();
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
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(default_worker_threads());
    }
    let runtime = match builder.build() {
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

/// Worker threads of the async runtime: one fewer than the cores (at least one). Each sink task
/// also writes on a thread of its own, and the database and the broker often share the machine;
/// on 2 cores one worker thread drained a slot 12 % faster and a sink 13 % faster than two, with
/// less memory (`benches/RESULTS.md`). `TOKIO_WORKER_THREADS` overrides it.
fn default_worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1).max(1))
        .unwrap_or(1)
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
