//! Kafka Connect's REST API: the same paths, verbs, status codes and JSON bodies, so existing
//! scripts, `curl` one-liners and UIs keep working. Every error answer, including malformed
//! JSON, unknown paths and wrong methods, uses Connect's `{"error_code", "message"}` body.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::classes;
use crate::config::{config_map, parse_connector_body};
use crate::error::ApiError;
use crate::state::TargetState;
use crate::validate;
use crate::worker::Worker;

/// The commit walcast was built from, when the build sets `WALCAST_GIT_COMMIT`.
const COMMIT: &str = match option_env!("WALCAST_GIT_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

pub(crate) fn router(worker: Worker) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/connectors", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route("/connectors/{name}/config", get(get_config).put(put_config))
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route("/connectors/{name}/restart", post(restart))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/tasks/{task}/status", get(task_status))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(restart_task),
        )
        .route("/connector-plugins", get(plugins))
        .route(
            "/connector-plugins/{class}/config/validate",
            put(validate_config),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(worker)
}

/// `Path` whose rejection is a Connect error body rather than axum's plain text.
struct ApiPath<T>(T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(value: Value) -> ApiResult {
    Ok(Json(value).into_response())
}

fn with_status(status: StatusCode, value: Value) -> ApiResult {
    Ok((status, Json(value)).into_response())
}

fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Parse a request body as JSON, with Connect's error body on failure.
fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))
}

/// `a=1&b=2` into pairs (values here are plain words, no percent-decoding needed).
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

fn query_bool(pairs: &[(String, String)], key: &str) -> Result<bool, ApiError> {
    match pairs.iter().rev().find(|(k, _)| k == key) {
        None => Ok(false),
        Some((_, v)) => crate::config::parse_bool(v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Query parameter {key} must be true or false, not `{v}`"
            ))
        }),
    }
}

async fn root() -> ApiResult {
    ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": COMMIT,
        // The worker does not talk to Kafka itself (connectors do), so it has no cluster id.
        "kafka_cluster_id": null,
    }))
}

async fn health() -> ApiResult {
    ok(json!({"status": "UP"}))
}

async fn metrics() -> Response {
    match crate::metrics::handle() {
        Some(handle) => {
            handle.run_upkeep();
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                handle.render(),
            )
                .into_response()
        }
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are unavailable: another metrics recorder is installed in this process",
        )
        .into_response(),
    }
}

async fn list(State(w): State<Worker>, RawQuery(query): RawQuery) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let mut want_status = false;
    let mut want_info = false;
    for (k, v) in &pairs {
        if k == "expand" {
            match v.as_str() {
                "status" => want_status = true,
                "info" => want_info = true,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "Unknown expand value `{other}`: use status or info"
                    )))
                }
            }
        }
    }
    let names = w.names();
    if !want_status && !want_info {
        return ok(json!(names));
    }
    let mut out = serde_json::Map::new();
    for name in names {
        let mut entry = serde_json::Map::new();
        // A connector deleted between listing and reading is simply left out.
        if want_status {
            match w.status(&name) {
                Ok(s) => entry.insert("status".into(), s),
                Err(_) => continue,
            };
        }
        if want_info {
            match w.info(&name) {
                Ok(i) => entry.insert("info".into(), i),
                Err(_) => continue,
            };
        }
        out.insert(name, Value::Object(entry));
    }
    ok(Value::Object(out))
}

fn target_from_initial_state(initial: Option<&str>) -> Result<TargetState, ApiError> {
    match initial.map(|s| s.trim().to_ascii_uppercase()) {
        None => Ok(TargetState::Started),
        Some(s) if s == "RUNNING" => Ok(TargetState::Started),
        Some(s) if s == "PAUSED" => Ok(TargetState::Paused),
        Some(s) if s == "STOPPED" => Ok(TargetState::Stopped),
        Some(s) => Err(ApiError::bad_request(format!(
            "Invalid initial_state {s}: must be RUNNING, PAUSED or STOPPED"
        ))),
    }
}

async fn create(State(w): State<Worker>, body: Bytes) -> ApiResult {
    let value = parse_json(&body)?;
    let req = parse_connector_body(&value).map_err(ApiError::bad_request)?;
    if req.name.is_empty() {
        return Err(ApiError::bad_request(
            "Connector name is missing: the body must be {\"name\": ..., \"config\": {...}}",
        ));
    }
    let target = target_from_initial_state(req.initial_state.as_deref())?;
    let info = w.create(&req.name, req.config, target).await?;
    with_status(StatusCode::CREATED, info)
}

async fn info(State(w): State<Worker>, ApiPath(name): ApiPath<String>) -> ApiResult {
    ok(w.info(&name)?)
}

async fn delete(State(w): State<Worker>, ApiPath(name): ApiPath<String>) -> ApiResult {
    w.delete(&name).await?;
    no_content()
}

async fn get_config(State(w): State<Worker>, ApiPath(name): ApiPath<String>) -> ApiResult {
    ok(json!(w.config(&name)?))
}

async fn put_config(
    State(w): State<Worker>,
    ApiPath(name): ApiPath<String>,
    body: Bytes,
) -> ApiResult {
    let value = parse_json(&body)?;
    let config: BTreeMap<String, String> = config_map(&value).map_err(ApiError::bad_request)?;
    if let Some(in_body) = config.get("name") {
        if in_body.trim() != name {
            return Err(ApiError::bad_request(format!(
                "Connector name configuration ({in_body}) doesn't match connector name in the URL ({name})"
            )));
        }
    }
    let (created, info) = w.put_config(&name, config).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    with_status(status, info)
}

async fn status(State(w): State<Worker>, ApiPath(name): ApiPath<String>) -> ApiResult {
    ok(w.status(&name)?)
}

async fn pause(State(w): State<Worker>, ApiPath(name): ApiPath<String>) -> ApiResult {
    w.pause(&name).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn resume(State(w): State<Worker>, ApiPath(name): ApiPath<String>) -> ApiResult {
    w.resume(&name).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn stop(State(w): State<Worker>, ApiPath(name): ApiPath<String>) -> ApiResult {
    w.stop(&name).await?;
    no_content()
}

async fn restart(
    State(w): State<Worker>,
    ApiPath(name): ApiPath<String>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let pairs = query_pairs(query.as_deref());
    let include_tasks = query_bool(&pairs, "includeTasks")?;
    let only_failed = query_bool(&pairs, "onlyFailed")?;
    match w.restart(&name, include_tasks, only_failed).await? {
        Some(status) => with_status(StatusCode::ACCEPTED, status),
        None => no_content(),
    }
}

async fn tasks(State(w): State<Worker>, ApiPath(name): ApiPath<String>) -> ApiResult {
    ok(w.tasks(&name)?)
}

async fn task_status(
    State(w): State<Worker>,
    ApiPath((name, task)): ApiPath<(String, String)>,
) -> ApiResult {
    ok(w.task_status(&name, &task)?)
}

async fn restart_task(
    State(w): State<Worker>,
    ApiPath((name, task)): ApiPath<(String, String)>,
) -> ApiResult {
    w.restart_task(&name, &task).await?;
    no_content()
}

async fn plugins(State(w): State<Worker>) -> ApiResult {
    let list: Vec<Value> = w
        .plugins()
        .iter()
        .map(|p| json!({"class": p.class(), "type": p.kind().as_str(), "version": p.version()}))
        .collect();
    ok(Value::Array(list))
}

async fn validate_config(
    State(w): State<Worker>,
    ApiPath(class): ApiPath<String>,
    body: Bytes,
) -> ApiResult {
    let value = parse_json(&body)?;
    let mut config = config_map(&value).map_err(ApiError::bad_request)?;
    let plugin =
        classes::resolve(&class, w.plugins()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match config.get("connector.class") {
        Some(in_body) => {
            let same =
                classes::resolve(in_body, w.plugins()).is_ok_and(|p| p.class() == plugin.class());
            if !same {
                return Err(ApiError::bad_request(format!(
                    "Included connector type {in_body} does not match request type {class}"
                )));
            }
        }
        None => {
            config.insert("connector.class".into(), plugin.class().to_owned());
        }
    }
    let issues = validate::check(plugin.as_ref(), &config, w.providers(), w.env());
    ok(validate::validation_body(plugin.as_ref(), &config, &issues))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "HTTP 404 Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "HTTP 405 Method Not Allowed",
    )
}
