//! A cache-aside cache with TTLs, with the `eddy-client` crate: read the cache, on a miss load
//! from the (slow) source of truth and store the value with `SET ... PX ttl`. Instead of
//! guessing when an entry is gone, the example follows the change feed's `expired` events for
//! the cache's keys and reports each expiry as it happens.
//!
//! ```sh
//! cargo run --example cache_ttl -- 127.0.0.1:6479 300   # address, TTL in ms
//! ```

use eddy_client::{cmd, Client, Value};
use futures_util::StreamExt;

/// The source of truth the cache sits in front of (a real one would be a database call).
fn load_user(id: u32) -> String {
    format!("{{\"id\":{id},\"name\":\"user-{id}\"}}")
}

/// Cache-aside read: returns the value and whether it came from the cache.
pub async fn get_user(
    client: &Client,
    id: u32,
    ttl_ms: u64,
) -> eddy_client::Result<(String, bool)> {
    let key = format!("cache:user:{id}");
    if let Value::Bytes(b) = client.cmd(&["GET", key.as_str()]).await? {
        return Ok((String::from_utf8_lossy(&b).into_owned(), true));
    }
    let value = load_user(id);
    client
        .exec(&cmd("SET").arg(&key).arg(&value).arg("PX").arg(&ttl_ms))
        .await?;
    Ok((value, false))
}

/// Reads user 1 twice (a miss, then a hit), waits for its entry's `expired` event, and reads
/// it again (a miss).
pub async fn run(addr: &str, ttl_ms: u64, out: &mut dyn std::io::Write) -> eddy_client::Result<()> {
    let client = Client::connect(addr).await?;
    client.cmd(&["DEL", "cache:user:1"]).await?;
    let mut expiries = client
        .changes()
        .pattern("cache:*")
        .events(["expired"])
        .follow()
        .await?;
    for _ in 0..2 {
        let (value, hit) = get_user(&client, 1, ttl_ms).await?;
        let how = if hit { "hit " } else { "miss" };
        let _ = writeln!(out, "{how} user 1 -> {value}");
    }
    let ttl = client.cmd(&["PTTL", "cache:user:1"]).await?;
    let _ = writeln!(out, "cached for at most {ttl_ms} ms (pttl {ttl})");
    if let Some(change) = expiries.next().await {
        let change = change?;
        let _ = writeln!(out, "expired {} ({:?})", change.key_str(), change.origin);
    }
    let (_, hit) = get_user(&client, 1, ttl_ms).await?;
    let _ = writeln!(
        out,
        "{} user 1 after expiry",
        if hit { "hit " } else { "miss" }
    );
    Ok(())
}

mod args;

#[tokio::main]
async fn main() -> eddy_client::Result<()> {
    let args = args::Args::from_env();
    let ttl = args.parse(1, 300, "TTL in ms");
    run(&args.get(0, "127.0.0.1:6479"), ttl, &mut std::io::stdout()).await
}
