//! A sliding-window rate limiter over RESP with the `redis` crate: each client's requests are
//! the members of a sorted set scored by time; a request is allowed when fewer than `limit`
//! remain in the last `window` after dropping older ones. One MULTI/EXEC per request keeps the
//! check and the insert together, and the key expires when the client goes quiet.
//!
//! ```sh
//! cargo run --example rate_limiter -- redis://127.0.0.1:6379/ 5 10000 8   # url, limit, window ms, requests
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A limiter of `limit` requests per `window_ms` per client.
pub struct Limiter {
    pub limit: usize,
    pub window_ms: u64,
    pub prefix: String,
}

/// The outcome of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests counted in the window, this one included when allowed.
    pub in_window: usize,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Limiter {
    /// Records a request by `client` and decides whether it may go ahead.
    pub async fn check(
        &self,
        con: &mut redis::aio::MultiplexedConnection,
        client: &str,
    ) -> redis::RedisResult<Decision> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let key = format!("{}{client}", self.prefix);
        let now = now_ms();
        // Unique member: two requests in the same millisecond are two requests.
        let member = format!("{now}-{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let (count,): (usize,) = redis::pipe()
            .atomic()
            .zrembyscore(&key, 0, now.saturating_sub(self.window_ms))
            .ignore()
            .zadd(&key, &member, now)
            .ignore()
            .zcard(&key)
            .pexpire(&key, self.window_ms as i64)
            .ignore()
            .query_async(con)
            .await?;
        if count > self.limit {
            // Denied requests do not use up the window.
            let _: () = redis::cmd("ZREM")
                .arg(&key)
                .arg(&member)
                .query_async(con)
                .await?;
            return Ok(Decision {
                allowed: false,
                in_window: count - 1,
            });
        }
        Ok(Decision {
            allowed: true,
            in_window: count,
        })
    }
}

/// Sends `requests` requests as one client and prints each decision; returns them.
pub async fn run(
    url: &str,
    limiter: &Limiter,
    requests: usize,
    out: &mut dyn std::io::Write,
) -> redis::RedisResult<Vec<Decision>> {
    let mut con = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let _: () = redis::cmd("DEL")
        .arg(format!("{}api-client-1", limiter.prefix))
        .query_async(&mut con)
        .await?;
    let mut decisions = Vec::new();
    for i in 1..=requests {
        let d = limiter.check(&mut con, "api-client-1").await?;
        let verdict = if d.allowed { "allowed" } else { "denied" };
        let _ = writeln!(
            out,
            "request {i}: {verdict} ({}/{} in window)",
            d.in_window, limiter.limit
        );
        decisions.push(d);
    }
    Ok(decisions)
}

mod args;

#[tokio::main]
async fn main() -> redis::RedisResult<()> {
    let args = args::Args::from_env();
    let limiter = Limiter {
        limit: args.parse(1, 5, "limit"),
        window_ms: args.parse(2, 10_000, "window in ms"),
        prefix: "ratelimit:".into(),
    };
    let requests = args.parse(3, 8, "number of requests");
    let url = args.get(0, "redis://127.0.0.1:6379/");
    run(&url, &limiter, requests, &mut std::io::stdout())
        .await
        .map(drop)
}
