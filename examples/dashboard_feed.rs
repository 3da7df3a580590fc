//! A live dashboard feed with the `eddy-client` crate: follows the change feed (optionally
//! filtered by a key pattern) and prints one line per change, with the new value for strings,
//! plus running totals per event. The feed reconnects and resumes by itself if the connection
//! drops, so the dashboard neither misses nor double-counts a change.
//!
//! ```sh
//! cargo run --example dashboard_feed -- 127.0.0.1:6479 'order:*'          # from now on, forever
//! cargo run --example dashboard_feed -- 127.0.0.1:6479 'order:*' earliest 10   # 10 changes from the start
//! ```

use std::collections::BTreeMap;

use eddy_client::{Client, Images, Start};
use futures_util::StreamExt;

/// Follows changes to keys matching `pattern` from `start`; stops after `limit` changes if set.
/// Returns the totals per event.
pub async fn run(
    addr: &str,
    pattern: &str,
    start: Start,
    limit: Option<usize>,
    out: &mut dyn std::io::Write,
) -> eddy_client::Result<BTreeMap<String, usize>> {
    let client = Client::connect(addr).await?;
    let mut feed = client
        .changes()
        .start(start)
        .pattern(pattern)
        .images(Images::New)
        .follow()
        .await?;
    let _ = writeln!(
        out,
        "following {pattern} from offset {}",
        feed.position().next
    );
    let mut totals = BTreeMap::new();
    let mut seen = 0;
    while limit.is_none_or(|l| seen < l) {
        let Some(change) = feed.next().await else {
            break;
        };
        let c = change?;
        let value = c
            .new
            .as_ref()
            .map(|v| format!(" = {v}"))
            .unwrap_or_default();
        let _ = writeln!(out, "#{} {} {}{value}", c.offset, c.event, c.key_str());
        *totals.entry(c.event.clone()).or_insert(0) += 1;
        seen += 1;
    }
    let summary: Vec<String> = totals.iter().map(|(e, n)| format!("{e}={n}")).collect();
    let _ = writeln!(out, "totals: {}", summary.join(" "));
    Ok(totals)
}

mod args;

#[tokio::main]
async fn main() -> eddy_client::Result<()> {
    let args = args::Args::from_env();
    let start = match args.get(2, "latest").as_str() {
        "earliest" => Start::Earliest,
        "latest" => Start::Latest,
        _ => Start::At(args.parse(2, 0, "start (earliest, latest or an offset)")),
    };
    let limit = args.has(3).then(|| args.parse(3, 0, "number of changes"));
    let (addr, pattern) = (args.get(0, "127.0.0.1:6479"), args.get(1, "*"));
    run(&addr, &pattern, start, limit, &mut std::io::stdout())
        .await
        .map(drop)
}
