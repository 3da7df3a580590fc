//! The NATS target: each batch is a request on the trigger's subject (`nats://host:port/subject`)
//! with the same body and headers as an HTTP delivery; the reply acknowledges the batch.
//!
//! One client per server address, shared by every trigger and kept for the life of the process
//! (async-nats reconnects it on its own); a server that can't be reached is tried again on the
//! next send. The reply classifies as [`Sent`]: a reply is success (its body may be a partial
//! batch response) unless it carries the NATS micro-services error header
//! `Nats-Service-Error-Code` (429 → unavailable, other 4xx → rejected, anything else → function
//! error); no reply within TIMEOUT is a function error; no responders on the subject or no
//! connection means unavailable.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, HeaderMap, Request};
use parking_lot::Mutex;

use super::{Outgoing, Sent};

fn clients() -> &'static Mutex<HashMap<String, Client>> {
    static C: OnceLock<Mutex<HashMap<String, Client>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

async fn client(server: &str) -> Result<Client, String> {
    if let Some(c) = clients().lock().get(server) {
        return Ok(c.clone());
    }
    // Connected outside the lock: a server that is down must not hold up other targets.
    let c = ConnectOptions::new()
        .name("eddy-triggers")
        .connection_timeout(Duration::from_secs(5))
        .connect(server)
        .await
        .map_err(|e| format!("can't connect to NATS at {server}: {e}"))?;
    Ok(clients()
        .lock()
        .entry(server.to_string())
        .or_insert(c)
        .clone())
}

pub async fn send(server: &str, subject: &str, r: Outgoing<'_>) -> Sent {
    let c = match client(server).await {
        Ok(c) => c,
        Err(e) => return Sent::Unavailable(e),
    };
    let mut headers = HeaderMap::new();
    for (k, v) in r.headers() {
        headers.insert(k, v.as_str());
    }
    let timeout = r.timeout;
    let req = Request::new()
        .headers(headers)
        .payload(r.body.into())
        .timeout(Some(timeout));
    let msg = match c.send_request(subject.to_string(), req).await {
        Ok(m) => m,
        Err(e) => {
            use async_nats::RequestErrorKind::*;
            return match e.kind() {
                TimedOut => {
                    Sent::FunctionError(format!("timed out after {} ms", timeout.as_millis()))
                }
                NoResponders => Sent::Unavailable(format!("no responders on '{subject}'")),
                _ => Sent::Unavailable(format!("NATS request failed: {e}")),
            };
        }
    };
    let code = msg
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Service-Error-Code"))
        .and_then(|v| v.as_str().trim().parse::<u16>().ok());
    if let Some(code) = code {
        let what = format!("the function answered error {code}");
        return match code {
            429 => Sent::Unavailable(what),
            400..=499 => Sent::Rejected(what),
            _ => Sent::FunctionError(what),
        };
    }
    match super::payload::failed_offsets(&msg.payload) {
        Some(failed) => Sent::Done { failed },
        None => Sent::FunctionError("the reply's batchItemFailures are invalid".into()),
    }
}
