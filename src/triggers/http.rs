//! The HTTP target: one POST per batch with `reqwest` over rustls (ring provider, installed at
//! start-up by [`install_crypto`]), a timeout per request, and one shared connection pool.
//!
//! Headers: `Content-Type` (the format's), `X-Eddy-Trigger` (the trigger's name),
//! `X-Eddy-Attempt` (1 on the first send of every record in the batch, more on retries), and
//! with a SECRET `X-Eddy-Signature: sha256=<hex HMAC-SHA256 of the body>` so the function can
//! check the sender. The response classifies as [`Sent`]: 2xx is success (its body may report
//! partial failures), 429/502/503/504 and connection errors say the function is unavailable,
//! other 5xx and timeouts are function errors, and other statuses (4xx, and 3xx: redirects
//! are not followed) reject the batch.

use std::sync::OnceLock;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Outgoing, Sent};

/// Most response bytes read (a partial batch response is small).
const MAX_RESPONSE: usize = 1 << 20;

/// Installs ring as rustls's process-wide crypto provider (reqwest is built without one, so
/// aws-lc-rs stays out of the build). Idempotent.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn client() -> Result<&'static reqwest::Client, String> {
    static C: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    C.get_or_init(|| {
        install_crypto();
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // A redirect would turn the POST into a GET elsewhere: it is an answer (a 3xx,
            // which rejects the batch), not a hop to follow.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("eddy/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("can't build the HTTP client: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// `sha256=<hex>` of the body keyed with `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is unreachable in practice.
        Err(_) => return String::new(),
    };
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut s = String::with_capacity(7 + tag.len() * 2);
    s.push_str("sha256=");
    s.push_str(&crate::util::hex(&tag));
    s
}

pub async fn send(url: &str, r: Outgoing<'_>) -> Sent {
    let c = match client() {
        Ok(c) => c,
        Err(e) => return Sent::Unavailable(e),
    };
    let mut req = c.post(url).timeout(r.timeout);
    for (k, v) in r.headers() {
        req = req.header(k, v);
    }
    let mut resp = match req.body(r.body).send().await {
        Ok(resp) => resp,
        Err(e) if e.is_timeout() => {
            return Sent::FunctionError(format!("timed out after {} ms", r.timeout.as_millis()))
        }
        Err(e) => return Sent::Unavailable(format!("can't reach the function: {e}")),
    };
    let status = resp.status();
    if !status.is_success() {
        let code = status.as_u16();
        let what = format!("the function answered HTTP {code}");
        return match code {
            429 | 502 | 503 | 504 => Sent::Unavailable(what),
            500..=599 => Sent::FunctionError(what),
            _ => Sent::Rejected(what),
        };
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if body.len() + c.len() > MAX_RESPONSE {
                    return Sent::FunctionError("the response is larger than 1 MiB".into());
                }
                body.extend_from_slice(&c);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => {
                return Sent::FunctionError(format!("timed out after {} ms", r.timeout.as_millis()))
            }
            Err(e) => return Sent::FunctionError(format!("reading the response: {e}")),
        }
    }
    match super::payload::failed_offsets(&body) {
        Some(failed) => Sent::Done { failed },
        None => Sent::FunctionError("the response's batchItemFailures are invalid".into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
