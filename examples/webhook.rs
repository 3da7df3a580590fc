//! A function that receives a trigger's batches over HTTP (see the triggers documentation:
//! `TRIGGER CREATE audit http://127.0.0.1:8080/ SECRET s3cr3t`). It verifies the
//! `X-Eddy-Signature` HMAC-SHA256 of the body (401, not retried, when it does not match),
//! processes each record of a CloudEvents or DynamoDB-shaped batch, skips records it has already
//! processed (delivery is at-least-once), and answers Lambda's partial batch response naming
//! the records it could not process, so only those (and later changes of the same keys) are
//! retried.
//!
//! ```sh
//! cargo run --example webhook -- 127.0.0.1:8080 s3cr3t
//! ```
//!
//! Records whose key starts with `poison` fail, to show the partial failure.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// Where each line of output goes (stdout in `main`, a buffer in tests).
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

struct App {
    secret: Vec<u8>,
    /// Ids already processed: a retried batch may repeat them.
    seen: Mutex<HashSet<String>>,
    log: Log,
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` with `secret`, compared
/// in constant time.
pub fn signature_ok(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(sig) = signature.strip_prefix("sha256=").and_then(hex_decode) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The `sha256=<hex>` signature of `body`, as a trigger sends it.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// One record of a batch: its identifier for `batchItemFailures`, its key and its event.
struct Record {
    id: String,
    key: String,
    event: String,
}

/// Reads a CloudEvents batch (an array) or a DynamoDB-shaped one (`{"Records": [...]}`).
fn records(batch: &Value) -> Option<Vec<Record>> {
    if let Some(events) = batch.as_array() {
        return events
            .iter()
            .map(|e| {
                Some(Record {
                    id: e["id"].as_str()?.to_owned(),
                    key: e["subject"].as_str().unwrap_or_default().to_owned(),
                    event: e["data"]["event"].as_str().unwrap_or_default().to_owned(),
                })
            })
            .collect();
    }
    batch["Records"]
        .as_array()?
        .iter()
        .map(|r| {
            Some(Record {
                id: r["eventID"].as_str()?.to_owned(),
                key: r["dynamodb"]["Keys"]["key"]["S"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                event: r["eventName"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// Your code: fails for keys starting with `poison`.
fn process(r: &Record) -> Result<(), String> {
    if r.key.starts_with("poison") {
        return Err(format!("cannot process {}", r.key));
    }
    Ok(())
}

async fn receive(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let signature = headers
        .get("x-eddy-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !signature_ok(&app.secret, &body, signature) {
        (app.log)("rejected a batch: bad signature".into());
        return (StatusCode::UNAUTHORIZED, "bad signature\n".to_string()).into_response();
    }
    let parsed = serde_json::from_slice::<Value>(&body).ok();
    let Some(batch) = parsed.as_ref().and_then(records) else {
        // 4xx: the trigger bisects to find the records this function refuses.
        return (StatusCode::BAD_REQUEST, "not a batch\n".to_string()).into_response();
    };
    let mut failures = Vec::new();
    for r in &batch {
        if app
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&r.id)
        {
            (app.log)(format!("skipped {} (already processed)", r.id));
            continue;
        }
        match process(r) {
            Ok(()) => {
                app.seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(r.id.clone());
                (app.log)(format!("processed {} {} {}", r.id, r.event, r.key));
            }
            Err(e) => {
                (app.log)(format!("failed {}: {e}", r.id));
                failures.push(json!({ "itemIdentifier": r.id }));
            }
        }
    }
    let reply = json!({ "batchItemFailures": failures }).to_string();
    ([(header::CONTENT_TYPE, "application/json")], reply).into_response()
}

/// Serves the function on `listener` until the task is dropped.
pub async fn run(
    listener: tokio::net::TcpListener,
    secret: &[u8],
    log: Log,
) -> std::io::Result<()> {
    let app = Arc::new(App {
        secret: secret.to_vec(),
        seen: Mutex::new(HashSet::new()),
        log,
    });
    let router = axum::Router::new()
        .route("/", axum::routing::post(receive))
        .with_state(app);
    axum::serve(listener, router).await
}

mod args;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = args::Args::from_env();
    let (addr, secret) = (args.get(0, "127.0.0.1:8080"), args.get(1, "s3cr3t"));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr}/");
    run(listener, secret.as_bytes(), Arc::new(|l| println!("{l}"))).await
}
