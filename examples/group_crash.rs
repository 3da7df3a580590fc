//! A change-feed consumer group that survives a worker crash, with the `eddy-client` crate.
//! Worker A reads a batch of changes, acknowledges the first two, and dies mid-batch (its task
//! is aborted and its connection drops, as when a process is killed). Its other changes stay in
//! the group's pending list; worker B, watching `CHANGES PENDING` for entries idle longer than
//! `min-idle`, claims them (delivery 2), processes and acknowledges them. Nothing is lost:
//! every change is acknowledged once the recovery is done.
//!
//! ```sh
//! cargo run --example group_crash -- 127.0.0.1:6479 1000   # address, min-idle ms before a claim
//! ```

use std::time::Duration;

use eddy_client::{Client, Filter, Group, GroupOptions, Start};
use tokio::sync::oneshot;

/// What the run did.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub acked_by_a: Vec<String>,
    pub claimed_by_b: Vec<String>,
    pub pending_after: usize,
}

/// Worker A: reads `count` changes, acknowledges two, reports, then hangs mid-batch.
async fn worker_a(
    addr: String,
    count: usize,
    report: oneshot::Sender<eddy_client::Result<Vec<String>>>,
) {
    let result = async {
        let client = Client::connect(addr).await?;
        let group = client.group("emails");
        let batch = group
            .read("worker-a", count, Some(Duration::from_secs(10)))
            .await?;
        let mut acked = Vec::new();
        for change in batch.iter().take(2) {
            group.ack(&[change.offset]).await?;
            acked.push(change.key_str());
        }
        Ok((client, acked))
    }
    .await;
    match result {
        Ok((_client, acked)) => {
            let _ = report.send(Ok(acked));
            // "Sending" the third email never finishes: the process is about to be killed.
            std::future::pending::<()>().await;
        }
        Err(e) => {
            let _ = report.send(Err(e));
        }
    }
}

/// Worker B's recovery loop: waits until some entries have been idle for `min_idle`, claims
/// them, processes and acknowledges them.
async fn recover(group: &Group, min_idle: Duration) -> eddy_client::Result<Vec<(String, u64)>> {
    let stale = loop {
        let stale = group.pending(Some(min_idle), None).await?;
        if !stale.is_empty() {
            break stale;
        }
        tokio::time::sleep(Duration::from_millis(50).min(min_idle)).await;
    };
    let offsets: Vec<u64> = stale.iter().map(|p| p.offset).collect();
    let claimed = group.claim("worker-b", min_idle, &offsets).await?;
    let mut done = Vec::new();
    for change in &claimed {
        let deliveries = stale
            .iter()
            .find(|p| p.offset == change.offset)
            .map_or(0, |p| p.deliveries + 1);
        group.ack(&[change.offset]).await?;
        done.push((change.key_str(), deliveries));
    }
    Ok(done)
}

/// Runs the scenario on four `email:*` changes.
pub async fn run(
    addr: &str,
    min_idle: Duration,
    out: &mut dyn std::io::Write,
) -> eddy_client::Result<Outcome> {
    let client = Client::connect(addr).await?;
    let group = client.group("emails");
    group.destroy().await?;
    let opts = GroupOptions {
        filter: Filter::default().pattern("email:*"),
        max_deliveries: Some(5),
        dead_letter: Some("emails:dlq".into()),
    };
    group.create(Start::Latest, &opts).await?;
    for i in 1..=4 {
        let to = format!("to=user{i}@example.com");
        client
            .cmd(&["SET", &format!("email:{i}"), to.as_str()])
            .await?;
    }

    let (tx, rx) = oneshot::channel();
    let a = tokio::spawn(worker_a(addr.to_owned(), 4, tx));
    let acked_by_a = rx.await.map_err(|_| eddy_client::Error::Closed)??;
    for key in &acked_by_a {
        let _ = writeln!(out, "worker-a sent {key} (acked)");
    }
    a.abort(); // The crash: its connection goes with it, its last changes unacknowledged.
    let _ = a.await;
    let held = group.pending(None, Some("worker-a")).await?.len();
    let _ = writeln!(
        out,
        "worker-a crashed holding {held} unacknowledged changes"
    );

    let mut claimed_by_b = Vec::new();
    for (key, delivery) in recover(&group, min_idle).await? {
        let _ = writeln!(out, "worker-b claimed and sent {key} (delivery {delivery})");
        claimed_by_b.push(key);
    }
    let pending_after = group.pending(None, None).await?.len();
    let _ = writeln!(out, "pending after recovery: {pending_after}");
    Ok(Outcome {
        acked_by_a,
        claimed_by_b,
        pending_after,
    })
}

mod args;

#[tokio::main]
async fn main() -> eddy_client::Result<()> {
    let args = args::Args::from_env();
    let idle = Duration::from_millis(args.parse(1, 1000, "min-idle in ms"));
    run(&args.get(0, "127.0.0.1:6479"), idle, &mut std::io::stdout())
        .await
        .map(drop)
}
