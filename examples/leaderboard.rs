//! A game leaderboard on a sorted set, with the `eddy-client` crate over the MessagePack door:
//! scores with `ZADD`, points with `ZINCRBY`, the top N with `ZREVRANGE ... WITHSCORES`, a
//! player's rank with `ZREVRANK`, all sent as one pipeline where they do not depend on each
//! other.
//!
//! ```sh
//! cargo run --example leaderboard -- 127.0.0.1:6479
//! ```

use eddy_client::{cmd, Client, Value};

/// One row of the board.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub rank: usize,
    pub player: String,
    pub score: f64,
}

/// The top `n` players, best first.
pub async fn top(client: &Client, board: &str, n: usize) -> eddy_client::Result<Vec<Row>> {
    let reply = client
        .exec(
            &cmd("ZREVRANGE")
                .arg(board)
                .arg(&0)
                .arg(&(n as i64 - 1))
                .arg("WITHSCORES"),
        )
        .await?;
    // RESP3 shapes: an array of [member, score] pairs.
    let rows = reply.as_array().unwrap_or_default();
    Ok(rows
        .iter()
        .enumerate()
        .filter_map(|(i, pair)| {
            let pair = pair.as_array()?;
            Some(Row {
                rank: i + 1,
                player: pair.first()?.as_str()?.to_owned(),
                score: pair.get(1)?.as_f64()?,
            })
        })
        .collect())
}

/// Records a season's games and prints the board.
pub async fn run(addr: &str, out: &mut dyn std::io::Write) -> eddy_client::Result<Vec<Row>> {
    let client = Client::connect(addr).await?;
    let board = "leaderboard:season-1";
    client.cmd(&["DEL", board]).await?;
    client
        .exec(
            &cmd("ZADD")
                .arg(board)
                .args(["120", "alice", "95", "bob", "150", "carol", "80", "dave"]),
        )
        .await?;
    // Points won in the last round, all in flight at once.
    let wins = [("bob", 70), ("dave", 30), ("alice", 10), ("bob", 5)];
    let round: Vec<_> = wins
        .iter()
        .map(|(p, pts)| cmd("ZINCRBY").arg(board).arg(pts).arg(*p))
        .collect();
    for r in client.pipeline(&round).await {
        r?;
    }
    let rows = top(&client, board, 3).await?;
    for row in &rows {
        let _ = writeln!(out, "{}. {} {}", row.rank, row.player, row.score);
    }
    let rank = client.cmd(&["ZREVRANK", board, "dave"]).await?;
    let players = client.cmd(&["ZCARD", board]).await?;
    if let (Value::Int(r), Value::Int(n)) = (rank, players) {
        let _ = writeln!(out, "dave is #{} of {n}", r + 1);
    }
    Ok(rows)
}

mod args;

#[tokio::main]
async fn main() -> eddy_client::Result<()> {
    let addr = args::Args::from_env().get(0, "127.0.0.1:6479");
    run(&addr, &mut std::io::stdout()).await.map(drop)
}
