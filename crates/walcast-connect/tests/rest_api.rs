//! The worker's REST API and connector lifecycle, over real HTTP against an in-process worker.

mod common;

use std::io::Write;

use common::{record, run_config, start, start_with, wait_record, worker_config};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_health_plugins_and_unknown_paths() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;

    let (code, root) = w.call("GET", "/", None).await;
    assert_eq!(code, 200);
    assert_eq!(root["version"], env!("CARGO_PKG_VERSION"));
    assert!(root["commit"].is_string(), "{root}");
    assert!(root
        .as_object()
        .expect("object")
        .contains_key("kafka_cluster_id"));

    assert_eq!(
        w.call("GET", "/health", None).await,
        (200, json!({"status": "UP"}))
    );

    let (code, plugins) = w.call("GET", "/connector-plugins", None).await;
    assert_eq!(code, 200);
    assert_eq!(
        plugins[0],
        json!({"class": "com.example.test.RunConnector", "type": "source", "version": "1.2.3"})
    );
    assert_eq!(plugins[1]["type"], "sink");

    let (code, body) = w.call("GET", "/no/such/path", None).await;
    assert_eq!(
        (code, body["error_code"].clone()),
        (404, json!(404)),
        "{body}"
    );
    let (code, body) = w.call("DELETE", "/connectors", None).await;
    assert_eq!(
        (code, body["error_code"].clone()),
        (405, json!(405)),
        "{body}"
    );

    let (code, body) = w.call("GET", "/connectors/nope/status", None).await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        json!({"error_code": 404, "message": "Connector nope not found"})
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_returns_connect_body_and_duplicate_is_409() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;
    let body = json!({"name": "create-a", "config": run_config(&[])});
    let (code, created) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        created,
        json!({
            "name": "create-a",
            "config": {
                "connector.class": "com.example.test.RunConnector",
                "database.hostname": "db.internal",
                "name": "create-a",
                "topic.prefix": "inventory",
            },
            "tasks": [{"connector": "create-a", "task": 0}],
            "type": "source",
        })
    );

    let (code, dup) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 409);
    assert_eq!(
        dup,
        json!({"error_code": 409, "message": "Connector create-a already exists"})
    );

    assert_eq!(
        w.call("GET", "/connectors", None).await,
        (200, json!(["create-a"]))
    );
    assert_eq!(
        w.call("GET", "/connectors/create-a", None).await,
        (200, created.clone())
    );
    assert_eq!(
        w.call("GET", "/connectors/create-a/config", None).await,
        (200, created["config"].clone())
    );
    let (code, tasks) = w.call("GET", "/connectors/create-a/tasks", None).await;
    assert_eq!(code, 200);
    assert_eq!(tasks[0]["id"], json!({"connector": "create-a", "task": 0}));
    assert_eq!(tasks[0]["config"]["topic.prefix"], "inventory");

    let status = w.wait_task_state("create-a", "RUNNING").await;
    assert_eq!(status["name"], "create-a");
    assert_eq!(status["connector"]["state"], "RUNNING");
    assert_eq!(status["type"], "source");
    let worker_id = status["connector"]["worker_id"]
        .as_str()
        .expect("worker_id");
    assert_eq!(status["tasks"][0]["worker_id"], worker_id);
    assert_eq!(status["tasks"][0]["id"], 0);
    assert!(worker_id.starts_with("127.0.0.1:"), "{worker_id}");
    assert_eq!(
        wait_record("create-a", |r| r.starts == 1).await.worker_id,
        worker_id
    );

    let (code, task) = w
        .call("GET", "/connectors/create-a/tasks/0/status", None)
        .await;
    assert_eq!(code, 200);
    assert_eq!(task["state"], "RUNNING");
    let (code, _) = w
        .call("GET", "/connectors/create-a/tasks/1/status", None)
        .await;
    assert_eq!(code, 404);

    // Short class names select the plugin like Connect's aliases.
    for (name, class) in [
        ("create-simple", "RunConnector"),
        ("create-pruned", "Run"),
        ("create-alias", "test.Runner"),
    ] {
        let body = json!({"name": name, "config": run_config(&[("connector.class", class)])});
        let (code, created) = w.call("POST", "/connectors", Some(&body)).await;
        assert_eq!(code, 201, "{class}: {created}");
    }
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misspelled_keys_get_a_suggestion() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;
    let mut config = run_config(&[("databse.hostname", "db.internal")]);
    config
        .as_object_mut()
        .expect("object")
        .remove("database.hostname");
    let body = json!({"name": "typo", "config": config});
    let (code, err) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 400, "{err}");
    let msg = err["message"].as_str().expect("message");
    assert!(
        msg.contains("Unknown configuration key databse.hostname: did you mean database.hostname?"),
        "{msg}"
    );
    // A key that is far from every known key is only warned about, as in Connect.
    let body = json!({"name": "extra", "config": run_config(&[("some.other.setting", "1")])});
    let (code, err) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 201, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configs_are_400_with_connect_messages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;

    // Missing required keys: all of them named.
    let body =
        json!({"name": "bad", "config": {"connector.class": "com.example.test.RunConnector"}});
    let (code, err) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 400, "{err}");
    assert_eq!(err["error_code"], 400);
    let msg = err["message"].as_str().expect("message");
    assert!(msg.contains("contains the following 2 error(s)"), "{msg}");
    assert!(
        msg.contains("Missing required configuration \"topic.prefix\" which has no default value."),
        "{msg}"
    );
    assert!(msg.contains("\"database.hostname\""), "{msg}");

    // No class at all.
    let body = json!({"name": "bad", "config": {"topic.prefix": "x"}});
    let (code, err) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 400);
    assert!(
        err["message"]
            .as_str()
            .expect("message")
            .contains("connector.class"),
        "{err}"
    );

    // A class nobody knows.
    let body = json!({"name": "bad", "config": run_config(&[("connector.class", "com.acme.MysteryConnector")])});
    let (code, err) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 400);
    assert!(
        err["message"].as_str().expect("message").starts_with(
            "Failed to find any class that implements Connector and which name matches com.acme.MysteryConnector"
        ),
        "{err}"
    );

    // Known, not implemented.
    for class in [
        "io.confluent.connect.jdbc.JdbcSinkConnector",
        "io.debezium.connector.jdbc.JdbcSinkConnector",
    ] {
        let body = json!({"name": "jdbc", "config": {"connector.class": class, "connection.url": "jdbc:postgresql://h/db", "topics": "t"}});
        let (code, err) = w.call("POST", "/connectors", Some(&body)).await;
        assert_eq!(code, 400);
        let msg = err["message"].as_str().expect("message");
        assert!(
            msg.contains(class)
                && msg.contains("is recognised but not implemented in this walcast version"),
            "{msg}"
        );
    }

    // The plugin's own checks.
    let body = json!({"name": "bad", "config": run_config(&[("topic.prefix", "has space")])});
    let (code, err) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 400);
    assert!(
        err["message"]
            .as_str()
            .expect("message")
            .contains("must not contain spaces"),
        "{err}"
    );

    // Only JsonConverter.
    let body = json!({"name": "bad", "config": run_config(&[("value.converter", "io.confluent.connect.avro.AvroConverter")])});
    let (code, err) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 400);
    assert!(
        err["message"]
            .as_str()
            .expect("message")
            .contains("only supports org.apache.kafka.connect.json.JsonConverter"),
        "{err}"
    );

    // Malformed JSON gets Connect's error body, not axum's text.
    let (code, text) = w.raw("POST", "/connectors", "{\"name\": \"x\", ").await;
    assert_eq!(code, 400);
    let err: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(err["error_code"], 400);
    let (code, text) = w.raw("PUT", "/connectors/x/config", "not json").await;
    assert_eq!(code, 400);
    assert!(text.contains("\"error_code\":400"), "{text}");

    // Nested values, missing name, name mismatch.
    let body = json!({"name": "bad", "config": {"connector.class": "X", "nested": {"a": 1}}});
    assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 400);
    let body = json!({"config": run_config(&[])});
    assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 400);
    let (code, err) = w
        .call(
            "PUT",
            "/connectors/one/config",
            Some(&run_config(&[("name", "other")])),
        )
        .await;
    assert_eq!(code, 400);
    assert!(
        err["message"]
            .as_str()
            .expect("message")
            .contains("doesn't match"),
        "{err}"
    );

    // A failed secret reference is a 400 naming the key, without creating anything.
    let body = json!({"name": "bad", "config": run_config(&[("database.password", "${env:WALCAST_TEST_SURELY_UNSET_VAR}")])});
    let (code, err) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 400);
    let msg = err["message"].as_str().expect("message");
    assert!(
        msg.contains("database.password") && msg.contains("WALCAST_TEST_SURELY_UNSET_VAR"),
        "{msg}"
    );

    assert_eq!(w.call("GET", "/connectors", None).await, (200, json!([])));

    // Unknown keys are accepted (with a warning in the log).
    let body = json!({"name": "extra-keys", "config": run_config(&[("some.unknown.key", "1"), ("tasks.max", "1")])});
    assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 201);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_stop_delete() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;
    let body = json!({"name": "life", "config": run_config(&[("flush.ms", "100")])});
    assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 201);
    w.wait_task_state("life", "RUNNING").await;
    wait_record("life", |r| r.starts == 1).await;

    let (code, body) = w.call("PUT", "/connectors/life/pause", None).await;
    assert_eq!((code, body), (202, Value::Null));
    let status = w.wait_task_state("life", "PAUSED").await;
    assert_eq!(status["connector"]["state"], "PAUSED");
    // Pause waited for the task's flush and clean return.
    assert_eq!(record("life").clean_stops, 1);

    assert_eq!(w.call("PUT", "/connectors/life/resume", None).await.0, 202);
    let status = w.wait_task_state("life", "RUNNING").await;
    assert_eq!(status["connector"]["state"], "RUNNING");
    wait_record("life", |r| r.starts == 2).await;
    // Resuming a running connector changes nothing.
    assert_eq!(w.call("PUT", "/connectors/life/resume", None).await.0, 202);
    assert_eq!(record("life").starts, 2);

    assert_eq!(w.call("PUT", "/connectors/life/stop", None).await.0, 204);
    let status = w
        .wait_status("life", "STOPPED", |s| s["connector"]["state"] == "STOPPED")
        .await;
    assert_eq!(status["tasks"], json!([]));
    assert_eq!(
        w.call("GET", "/connectors/life", None).await.1["tasks"],
        json!([])
    );
    assert_eq!(w.call("PUT", "/connectors/life/resume", None).await.0, 202);
    w.wait_task_state("life", "RUNNING").await;

    assert_eq!(
        w.call("DELETE", "/connectors/life", None).await,
        (204, Value::Null)
    );
    assert_eq!(record("life").clean_stops, 3);
    assert_eq!(w.call("GET", "/connectors/life", None).await.0, 404);
    assert_eq!(w.call("GET", "/connectors/life/status", None).await.0, 404);
    assert_eq!(w.call("DELETE", "/connectors/life", None).await.0, 404);
    assert_eq!(w.call("PUT", "/connectors/life/pause", None).await.0, 404);
    assert_eq!(w.call("GET", "/connectors", None).await.1, json!([]));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_task_is_failed_with_trace_and_restart_runs_it_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;
    let body = json!({"name": "fails", "config": {
        "connector.class": "com.example.test.FailingConnector", "fail.after.ms": "50", "fail.times": "2"}});
    assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 201);
    let body = json!({"name": "bystander", "config": run_config(&[])});
    assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 201);

    let status = w.wait_task_state("fails", "FAILED").await;
    let trace = status["tasks"][0]["trace"].as_str().expect("trace");
    assert!(
        trace.contains("sink table is gone") && trace.contains("Caused by"),
        "{trace}"
    );
    assert_eq!(status["type"], "sink");
    // The connector object itself is fine, as in Connect when a task fails.
    assert_eq!(status["connector"]["state"], "RUNNING");
    // Other connectors keep running.
    assert_eq!(
        w.call("GET", "/connectors/bystander/status", None).await.1["tasks"][0]["state"],
        "RUNNING"
    );

    // Plain restart: 204, runs again (and fails again: fail.times=2).
    assert_eq!(
        w.call("POST", "/connectors/fails/restart", None).await,
        (204, Value::Null)
    );
    wait_record("fails", |r| r.starts == 2).await;
    w.wait_task_state("fails", "FAILED").await;

    // includeTasks/onlyFailed: 202 with the status; the third run does not fail.
    let (code, status) = w
        .call(
            "POST",
            "/connectors/fails/restart?includeTasks=true&onlyFailed=true",
            None,
        )
        .await;
    assert_eq!(code, 202, "{status}");
    assert_eq!(status["name"], "fails");
    assert_eq!(status["tasks"][0]["state"], "RUNNING");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let status = w.wait_task_state("fails", "RUNNING").await;
    assert!(status["tasks"][0].get("trace").is_none(), "{status}");
    wait_record("fails", |r| r.starts == 3).await;

    // onlyFailed on a healthy connector does nothing.
    let (code, _) = w
        .call(
            "POST",
            "/connectors/fails/restart?includeTasks=true&onlyFailed=true",
            None,
        )
        .await;
    assert_eq!(code, 202);
    assert_eq!(record("fails").starts, 3);

    // Task restart.
    assert_eq!(
        w.call("POST", "/connectors/fails/tasks/0/restart", None)
            .await,
        (204, Value::Null)
    );
    wait_record("fails", |r| r.starts == 4).await;
    assert_eq!(
        w.call("POST", "/connectors/fails/tasks/7/restart", None)
            .await
            .0,
        404
    );
    w.wait_task_state("fails", "RUNNING").await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_task_is_failed_and_worker_survives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;
    let body = json!({"name": "panics", "config": {"connector.class": "PanickingConnector"}});
    assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 201);
    let status = w.wait_task_state("panics", "FAILED").await;
    let trace = status["tasks"][0]["trace"].as_str().expect("trace");
    assert!(
        trace.contains("panicked") && trace.contains("index out of bounds in test plugin"),
        "{trace}"
    );

    assert_eq!(
        w.call("POST", "/connectors/panics/restart", None).await.0,
        204
    );
    w.wait_task_state("panics", "FAILED").await;
    wait_record("panics", |r| r.starts == 2).await;
    assert_eq!(w.call("GET", "/health", None).await.0, 200);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_and_target_states_survive_a_worker_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;
    for name in ["persist-run", "persist-pause", "persist-stop"] {
        let body = json!({"name": name, "config": run_config(&[("flush.ms", "200")])});
        assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 201);
    }
    assert_eq!(
        w.call("PUT", "/connectors/persist-pause/pause", None)
            .await
            .0,
        202
    );
    assert_eq!(
        w.call("PUT", "/connectors/persist-stop/stop", None).await.0,
        204
    );
    let body = json!({"name": "persist-deleted", "config": run_config(&[])});
    assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 201);
    assert_eq!(
        w.call("DELETE", "/connectors/persist-deleted", None)
            .await
            .0,
        204
    );
    let config_before = w
        .call("GET", "/connectors/persist-run/config", None)
        .await
        .1;
    w.stop().await;
    // Shutdown waited for the running task's 200 ms flush.
    assert_eq!(record("persist-run").clean_stops, 1);

    let w = start(dir.path()).await;
    assert_eq!(
        w.call("GET", "/connectors", None).await.1,
        json!(["persist-pause", "persist-run", "persist-stop"])
    );
    w.wait_task_state("persist-run", "RUNNING").await;
    wait_record("persist-run", |r| r.starts == 2).await;
    let status = w.wait_task_state("persist-pause", "PAUSED").await;
    assert_eq!(status["connector"]["state"], "PAUSED");
    assert_eq!(
        record("persist-pause").starts,
        1,
        "a paused connector is not started at boot"
    );
    let status = w
        .call("GET", "/connectors/persist-stop/status", None)
        .await
        .1;
    assert_eq!(status["connector"]["state"], "STOPPED");
    assert_eq!(
        w.call("GET", "/connectors/persist-run/config", None)
            .await
            .1,
        config_before
    );

    assert_eq!(
        w.call("PUT", "/connectors/persist-pause/resume", None)
            .await
            .0,
        202
    );
    w.wait_task_state("persist-pause", "RUNNING").await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_resolved_for_the_task_but_config_shows_references() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut secret_file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(secret_file, "pg.password=file-secret-value").expect("write");
    let file_ref = format!("${{file:{}:pg.password}}", secret_file.path().display());
    let path_value = std::env::var("PATH").expect("PATH is set in test environments");

    let w = start(dir.path()).await;
    let body = json!({"name": "secrets", "config": run_config(&[
        ("database.password", file_ref.as_str()),
        ("database.hostname", "${env:PATH}"),
    ])});
    let (code, created) = w.call("POST", "/connectors", Some(&body)).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["config"]["database.password"], file_ref);
    w.wait_task_state("secrets", "RUNNING").await;
    wait_record("secrets", |r| r.starts == 1).await;

    let config = w.call("GET", "/connectors/secrets/config", None).await.1;
    assert_eq!(config["database.password"], file_ref);
    assert_eq!(config["database.hostname"], "${env:PATH}");
    let seen = record("secrets").last_config;
    assert_eq!(seen["database.password"], "file-secret-value");
    assert_eq!(seen["database.hostname"], path_value);

    // The state file never holds the resolved secret.
    let state = std::fs::read_to_string(dir.path().join("connectors.json")).expect("state file");
    assert!(!state.contains("file-secret-value"), "{state}");
    assert!(state.contains("pg.password"), "{state}");

    // References are resolved at each start: a rotated secret is picked up by a restart.
    std::fs::write(secret_file.path(), "pg.password=rotated\n").expect("rewrite");
    assert_eq!(
        w.call("POST", "/connectors/secrets/restart", None).await.0,
        204
    );
    wait_record("secrets", |r| r.starts == 2).await;
    assert_eq!(
        record("secrets").last_config["database.password"],
        "rotated"
    );

    // The validate endpoint hides PASSWORD values.
    let (code, v) = w
        .call(
            "PUT",
            "/connector-plugins/RunConnector/config/validate",
            Some(&run_config(&[
                ("name", "v"),
                ("database.password", "plain-secret"),
            ])),
        )
        .await;
    assert_eq!(code, 200);
    assert!(!v.to_string().contains("plain-secret"), "{v}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expand_status_and_info() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;
    for name in ["exp-a", "exp-b"] {
        let body = json!({"name": name, "config": run_config(&[])});
        assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 201);
    }
    w.wait_task_state("exp-a", "RUNNING").await;
    w.wait_task_state("exp-b", "RUNNING").await;

    let (code, both) = w
        .call("GET", "/connectors?expand=status&expand=info", None)
        .await;
    assert_eq!(code, 200);
    let map = both.as_object().expect("map");
    assert_eq!(map.len(), 2);
    assert_eq!(both["exp-a"]["status"]["connector"]["state"], "RUNNING");
    assert_eq!(both["exp-a"]["info"]["name"], "exp-a");
    assert_eq!(both["exp-b"]["info"]["config"]["topic.prefix"], "inventory");

    let status_only = w.call("GET", "/connectors?expand=status", None).await.1;
    assert_eq!(
        status_only["exp-b"]["status"]["tasks"][0]["state"],
        "RUNNING"
    );
    assert!(status_only["exp-b"].get("info").is_none());
    let info_only = w.call("GET", "/connectors?expand=info", None).await.1;
    assert_eq!(info_only["exp-a"]["info"]["type"], "source");
    assert!(info_only["exp-a"].get("status").is_none());
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_config_creates_then_updates_and_restarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;
    let (code, info) = w
        .call("PUT", "/connectors/putter/config", Some(&run_config(&[])))
        .await;
    assert_eq!(code, 201, "{info}");
    assert_eq!(info["name"], "putter");
    assert_eq!(info["config"]["name"], "putter");
    w.wait_task_state("putter", "RUNNING").await;

    let (code, info) = w
        .call(
            "PUT",
            "/connectors/putter/config",
            Some(&run_config(&[
                ("topic.prefix", "changed"),
                ("name", "putter"),
            ])),
        )
        .await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["config"]["topic.prefix"], "changed");
    w.wait_task_state("putter", "RUNNING").await;
    let r = wait_record("putter", |r| r.starts == 2).await;
    assert_eq!((r.starts, r.clean_stops), (2, 1));
    assert_eq!(r.last_config["topic.prefix"], "changed");
    assert_eq!(
        w.call("GET", "/connectors/putter/config", None).await.1["topic.prefix"],
        "changed"
    );

    // A paused connector takes the new config and stays paused.
    assert_eq!(w.call("PUT", "/connectors/putter/pause", None).await.0, 202);
    let (code, _) = w
        .call(
            "PUT",
            "/connectors/putter/config",
            Some(&run_config(&[("topic.prefix", "third")])),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        w.wait_task_state("putter", "PAUSED").await["connector"]["state"],
        "PAUSED"
    );
    assert_eq!(record("putter").starts, 2);

    // An invalid update is refused and leaves the old config.
    let (code, _) = w
        .call(
            "PUT",
            "/connectors/putter/config",
            Some(&json!({"connector.class": "com.example.test.RunConnector"})),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        w.call("GET", "/connectors/putter/config", None).await.1["topic.prefix"],
        "third"
    );

    // Per-connector converter settings override the worker's.
    let (code, _) = w
        .call(
            "PUT",
            "/connectors/schemaless/config",
            Some(&run_config(&[("key.converter.schemas.enable", "false")])),
        )
        .await;
    assert_eq!(code, 201);
    w.wait_task_state("schemaless", "RUNNING").await;
    wait_record("schemaless", |r| r.starts == 1).await;
    assert_eq!(record("schemaless").key_schemas_enable, Some(false));
    assert_eq!(record("putter").key_schemas_enable, Some(true));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_endpoint_uses_connects_shape() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;
    let (code, v) = w
        .call(
            "PUT",
            "/connector-plugins/com.example.test.RunConnector/config/validate",
            Some(&json!({"connector.class": "com.example.test.RunConnector", "name": "v", "topic.prefix": "x"})),
        )
        .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["name"], "com.example.test.RunConnector");
    assert_eq!(v["error_count"], 1);
    assert_eq!(v["groups"], json!(["Common", "Connector"]));
    let configs = v["configs"].as_array().expect("configs");
    let host = configs
        .iter()
        .find(|c| c["definition"]["name"] == "database.hostname")
        .expect("database.hostname listed");
    assert_eq!(host["definition"]["required"], true);
    assert_eq!(host["definition"]["type"], "STRING");
    assert_eq!(host["value"]["name"], "database.hostname");
    assert_eq!(host["value"]["value"], Value::Null);
    assert_eq!(host["value"]["visible"], true);
    assert_eq!(host["value"]["recommended_values"], json!([]));
    assert!(host["value"]["errors"][0]
        .as_str()
        .expect("error")
        .contains("Missing required configuration"));
    let prefix = configs
        .iter()
        .find(|c| c["definition"]["name"] == "topic.prefix")
        .expect("topic.prefix listed");
    assert_eq!(prefix["value"]["value"], "x");
    assert_eq!(prefix["value"]["errors"], json!([]));
    for field in [
        "name",
        "type",
        "required",
        "default_value",
        "importance",
        "documentation",
        "group",
        "width",
        "display_name",
        "dependents",
        "order",
    ] {
        assert!(
            prefix["definition"].get(field).is_some(),
            "definition lacks {field}: {prefix}"
        );
    }

    // Valid: zero errors; class from the path when the body has none.
    let (code, v) = w
        .call(
            "PUT",
            "/connector-plugins/RunConnector/config/validate",
            Some(&run_config(&[("name", "v")])),
        )
        .await;
    assert_eq!((code, v["error_count"].clone()), (200, json!(0)), "{v}");

    // Unknown plugin and mismatching class.
    let (code, err) = w
        .call(
            "PUT",
            "/connector-plugins/com.acme.Nope/config/validate",
            Some(&json!({})),
        )
        .await;
    assert_eq!(code, 400);
    assert!(err["message"]
        .as_str()
        .expect("message")
        .contains("Failed to find any class"));
    let (code, _) = w
        .call(
            "PUT",
            "/connector-plugins/RunConnector/config/validate",
            Some(&json!({"connector.class": "com.example.test.FailingConnector"})),
        )
        .await;
    assert_eq!(code, 400);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_worker_gauges() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;
    let body = json!({"name": "metered", "config": run_config(&[])});
    assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 201);
    w.wait_task_state("metered", "RUNNING").await;
    let resp = w
        .client
        .get(w.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain")));
    let text = resp.text().await.expect("text");
    let worker_id = w.call("GET", "/connectors/metered/status", None).await.1["connector"]
        ["worker_id"]
        .as_str()
        .expect("worker id")
        .to_owned();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("walcast_worker_connectors{")
                && l.contains("state=\"running\"")
                && l.contains(&format!("worker=\"{worker_id}\""))
        })
        .unwrap_or_else(|| panic!("no running gauge for {worker_id} in:\n{text}"));
    assert!(line.ends_with(" 1"), "{line}");
    assert!(text.contains("walcast_worker_task_starts_total"), "{text}");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_in_use_is_a_clear_error_with_exit_code_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let listeners = format!("http://127.0.0.1:{port}");
    let config = worker_config(dir.path(), &[("listeners", listeners.as_str())]);
    let result = walcast_connect::Worker::bind(config, common::plugins(), Default::default()).await;
    let Err(err) = result else {
        panic!("binding a taken port must fail");
    };
    assert_eq!(err.exit_code(), 2);
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "address 127.0.0.1:{port} already in use; set listeners="
        )),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_line_connectors_start_at_boot_and_bad_ones_fail_boot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = tempfile::Builder::new()
        .suffix(".properties")
        .tempfile()
        .expect("temp file");
    std::fs::write(
        file.path(),
        "# a Connect-style connector file\nname=from-file\nconnector.class=RunConnector\ntopic.prefix=x\ndatabase.hostname=h\n",
    )
    .expect("write");
    let def = walcast_connect::load_connector_file(file.path()).expect("valid file");
    let w = start_with(worker_config(dir.path(), &[]), vec![def.clone()]).await;
    w.wait_task_state("from-file", "RUNNING").await;
    assert_eq!(
        w.call("PUT", "/connectors/from-file/pause", None).await.0,
        202
    );
    w.stop().await;

    // Restarted with the same file: the saved PAUSED target wins over "start", the config
    // comes from the file.
    let w = start_with(worker_config(dir.path(), &[]), vec![def]).await;
    w.wait_task_state("from-file", "PAUSED").await;
    w.stop().await;

    let mut bad = tempfile::Builder::new()
        .suffix(".json")
        .tempfile()
        .expect("temp file");
    write!(
        bad,
        r#"{{"name": "bad-file", "config": {{"connector.class": "RunConnector"}}}}"#
    )
    .expect("write");
    let def = walcast_connect::load_connector_file(bad.path()).expect("parses");
    let mut config = worker_config(dir.path(), &[]);
    config.connectors = vec![def];
    let Err(err) =
        walcast_connect::Worker::bind(config, common::plugins(), Default::default()).await
    else {
        panic!("an invalid command-line connector must fail the boot");
    };
    assert_eq!(err.exit_code(), 1);
    let msg = err.to_string();
    assert!(
        msg.contains("bad-file") && msg.contains("topic.prefix"),
        "{msg}"
    );
    assert!(msg.contains(&bad.path().display().to_string()), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_state_paused_in_create() {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = start(dir.path()).await;
    let body =
        json!({"name": "starts-paused", "config": run_config(&[]), "initial_state": "PAUSED"});
    assert_eq!(w.call("POST", "/connectors", Some(&body)).await.0, 201);
    let status = w
        .call("GET", "/connectors/starts-paused/status", None)
        .await
        .1;
    assert_eq!(status["connector"]["state"], "PAUSED");
    assert_eq!(record("starts-paused").starts, 0);
    w.stop().await;
}
