//! A reliable task queue over RESP with the `redis` crate: a producer pushes tasks, workers take
//! them with `BLMOVE` into a per-worker processing list (so a task is never only in a worker's
//! memory), retry failures, and move a task that failed `max_attempts` times to a dead-letter
//! list. On start-up, whatever the workers of a previous run held in their processing lists
//! when they died goes back to the queue first.
//!
//! ```sh
//! cargo run --example task_queue -- redis://127.0.0.1:6379/ 20 3   # url, tasks, workers
//! ```
//!
//! Every seventh task is "poison" (always fails) to show the dead-letter path.

use std::sync::Arc;

use redis::AsyncCommands;

/// Where each line of output goes (stdout in `main`, a buffer in tests).
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

/// The queue's settings.
#[derive(Clone)]
pub struct Config {
    pub url: String,
    pub tasks: usize,
    pub workers: usize,
    pub max_attempts: i64,
    /// Prefix of every key the example uses.
    pub prefix: String,
}

/// What became of the tasks.
#[derive(Debug, PartialEq)]
pub struct Report {
    pub done: Vec<String>,
    pub dead: Vec<String>,
}

/// The marker that tells a worker to stop once every task is finished.
const STOP: &str = "--stop--";

struct Keys {
    queue: String,
    done: String,
    dead: String,
    attempts: String,
    finished: String,
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        Keys {
            queue: format!("{prefix}queue"),
            done: format!("{prefix}done"),
            dead: format!("{prefix}dead"),
            attempts: format!("{prefix}attempts"),
            finished: format!("{prefix}finished"),
        }
    }

    fn processing(&self, worker: &str) -> String {
        format!("{}:processing:{worker}", self.queue)
    }
}

/// A connection whose requests never time out on the client side (`BLMOVE` waits for work).
async fn connect(url: &str) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let cfg = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    redis::Client::open(url)?
        .get_multiplexed_async_connection_with_config(&cfg)
        .await
}

/// The work itself: poison tasks always fail.
fn handle(task: &str) -> bool {
    !task.ends_with(":poison")
}

/// Takes tasks until told to stop; the worker that finishes the `total`-th task tells all.
async fn worker(name: String, cfg: Config, total: usize, log: Log) -> redis::RedisResult<()> {
    let k = Keys::new(&cfg.prefix);
    let mut con = connect(&cfg.url).await?;
    let processing = k.processing(&name);
    loop {
        let task: String = con
            .blmove(
                &k.queue,
                &processing,
                redis::Direction::Right,
                redis::Direction::Left,
                0.0,
            )
            .await?;
        if task == STOP {
            let _: () = con.lrem(&processing, 1, STOP).await?;
            return Ok(());
        }
        // Each outcome removes the task from the processing list in the same transaction that
        // records it, so a crash never loses or duplicates a finished task.
        let mut tx = redis::pipe();
        tx.atomic().lrem(&processing, 1, &task).ignore();
        if handle(&task) {
            tx.rpush(&k.done, &task).ignore().incr(&k.finished, 1);
            log(format!("{name} done {task}"));
        } else {
            let attempts: i64 = con.hincr(&k.attempts, &task, 1).await?;
            if attempts >= cfg.max_attempts {
                tx.rpush(&k.dead, &task).ignore().incr(&k.finished, 1);
                log(format!(
                    "{name} dead-lettered {task} after {attempts} attempts"
                ));
            } else {
                tx.lpush(&k.queue, &task).ignore().get(&k.finished);
                log(format!(
                    "{name} failed {task} (attempt {attempts}), retrying"
                ));
            }
        }
        let (finished,): (Option<usize>,) = tx.query_async(&mut con).await?;
        if finished == Some(total) {
            // The last task is finished: wake every worker to stop.
            let stops = vec![STOP; cfg.workers];
            let _: () = con.lpush(&k.queue, stops).await?;
        }
    }
}

/// Produces `cfg.tasks` tasks, runs `cfg.workers` workers until all are done or dead-lettered.
pub async fn run(cfg: Config, log: Log) -> redis::RedisResult<Report> {
    let k = Keys::new(&cfg.prefix);
    let mut con = connect(&cfg.url).await?;
    let mut stale = vec![
        k.queue.clone(),
        k.done.clone(),
        k.dead.clone(),
        k.attempts.clone(),
    ];
    stale.push(k.finished.clone());
    let _: () = con.del(stale).await?;

    // Recovery: what the workers of a previous run held when they died goes back to the queue
    // (before any worker starts, so nothing is taken twice).
    let mut recovered = 0;
    for i in 1..=cfg.workers {
        let name = format!("worker-{i}");
        while let Some(t) = con
            .lmove::<_, _, Option<String>>(
                k.processing(&name),
                &k.queue,
                redis::Direction::Right,
                redis::Direction::Left,
            )
            .await?
        {
            log(format!("recovered {t} from {name}"));
            recovered += 1;
        }
    }
    let total = cfg.tasks + recovered;
    let workers: Vec<_> = (1..=cfg.workers)
        .map(|i| {
            let name = format!("worker-{i}");
            tokio::spawn(worker(name, cfg.clone(), total, log.clone()))
        })
        .collect();
    let tasks: Vec<String> = (0..cfg.tasks)
        .map(|i| {
            if i % 7 == 0 {
                format!("task-{i}:poison")
            } else {
                format!("task-{i}")
            }
        })
        .collect();
    let _: () = con.lpush(&k.queue, &tasks).await?;
    log(format!(
        "produced {} tasks for {} workers",
        cfg.tasks, cfg.workers
    ));
    for w in workers {
        w.await
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e)))??;
    }
    let mut done: Vec<String> = con.lrange(&k.done, 0, -1).await?;
    let mut dead: Vec<String> = con.lrange(&k.dead, 0, -1).await?;
    done.sort();
    dead.sort();
    log(format!("done: {} tasks", done.len()));
    log(format!("dead-lettered: {}", dead.join(", ")));
    Ok(Report { done, dead })
}

mod args;

#[tokio::main]
async fn main() -> redis::RedisResult<()> {
    let args = args::Args::from_env();
    let cfg = Config {
        url: args.get(0, "redis://127.0.0.1:6379/"),
        tasks: args.parse(1, 20, "number of tasks"),
        workers: args.parse(2, 3, "number of workers"),
        max_attempts: 3,
        prefix: "tq:".into(),
    };
    run(cfg, Arc::new(|l| println!("{l}"))).await.map(drop)
}
