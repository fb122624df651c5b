//! `make demo`, run the way a newcomer's first run goes but non-interactively
//! (`DEMO_ONESHOT=1`, the debug binaries of this build): it must show the connectors RUNNING, the
//! change event decoded, the enriched `results` rows and the Redis hash of the new order.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn demo_shows_enriched_orders_in_results_and_redis() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let walcast = walcast_testkit::workspace_bin("walcast").unwrap();
    let bin_dir = walcast.parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(repo.join("scripts/demo.sh"))
        .env("DEMO_ONESHOT", "1")
        .env("WALCAST_DEMO_BIN_DIR", bin_dir)
        .env("WALCAST_DEMO_DIR", dir.path().join("demo"))
        .env(
            "WALCAST_DEMO_PORT",
            walcast_testkit::free_port().to_string(),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for want in [
        "orders-source: RUNNING / task RUNNING",
        "results-sink: RUNNING / task RUNNING",
        "orders-cache: RUNNING / task RUNNING",
        // The decoded event and the enriched row of the order.
        "\"price\":\"19.99\"",
        "| CUST005     | PROD500    |        7 |  19.99 | PENDING |",
        "Barbara Liskov",
        "barbara@example.com",
        "HGETALL order:5",
        "walcast's log is kept at",
    ] {
        assert!(
            stdout.contains(want),
            "{want:?} missing from the demo's output:\n{stdout}\n{stderr}"
        );
    }
    // No terminal: no ANSI escapes.
    assert!(
        !stdout.contains('\u{1b}'),
        "ANSI escapes in non-terminal output"
    );
}
