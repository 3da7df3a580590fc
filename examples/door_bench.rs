//! MessagePack front door vs RESP on the same server (issue 7): GET and SET throughput with the
//! same client loop for both protocols, so only the codec differs. Each of `--conns` connections
//! keeps `--pipeline` requests in flight (1 = request/reply) for `--secs` seconds per run; the
//! runs alternate RESP and MessagePack `--rounds` times and the medians are compared.
//! With `--server-pid P` it also reports the server's CPU time per request for each door (all
//! its threads, from `/proc/P/task/*/schedstat`): the benchmark client shares the machine, so
//! throughput alone also measures how the client's two encoders compare and what the
//! neighbours take; CPU per request is the server's own cost.
//!
//! ```text
//! cargo run --release --example door_bench -- --port 6379 --msgpack 6479 --conns 50 --pipeline 1
//! ```

mod args;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Copy, PartialEq)]
enum Door {
    Resp,
    MsgPack,
}

struct Opts {
    port: u16,
    msgpack: u16,
    conns: usize,
    pipeline: usize,
    secs: u64,
    rounds: usize,
    /// 0: not given.
    server_pid: u32,
}

fn opts() -> Opts {
    let a = args::Args::from_env();
    let known = [
        "port",
        "msgpack",
        "conns",
        "pipeline",
        "secs",
        "rounds",
        "server-pid",
    ];
    Opts {
        port: a.flag("port", 6379, &known),
        msgpack: a.flag("msgpack", 6479, &known),
        conns: a.flag("conns", 50, &known),
        pipeline: a.flag("pipeline", 1, &known),
        secs: a.flag("secs", 5, &known),
        rounds: a.flag("rounds", 3, &known),
        server_pid: a.flag("server-pid", 0, &known),
    }
}

/// One request, encoded for `door`: `SET key:<n> xxx` or `GET key:<n>`.
fn request(door: Door, set: bool, n: u32) -> Vec<u8> {
    let key = format!("key:{n}");
    let args: Vec<&[u8]> = if set {
        vec![b"SET", key.as_bytes(), b"xxx"]
    } else {
        vec![b"GET", key.as_bytes()]
    };
    match door {
        Door::Resp => {
            let mut b = format!("*{}\r\n", args.len()).into_bytes();
            for a in &args {
                b.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                b.extend_from_slice(a);
                b.extend_from_slice(b"\r\n");
            }
            b
        }
        Door::MsgPack => {
            let mut body = Vec::new();
            rmp::encode::write_array_len(&mut body, args.len() as u32 + 1).expect("vec");
            rmp::encode::write_uint(&mut body, u64::from(n)).expect("vec");
            for a in &args {
                rmp::encode::write_str(&mut body, std::str::from_utf8(a).expect("ascii"))
                    .expect("vec");
            }
            let mut b = (body.len() as u32).to_be_bytes().to_vec();
            b.extend_from_slice(&body);
            b
        }
    }
}

/// Length of the first complete reply in `buf`, if any (RESP: `+OK`, `$n`, `$-1`, `_`; the
/// replies of SET and GET).
fn reply_len(door: Door, buf: &[u8]) -> Option<usize> {
    match door {
        Door::MsgPack => {
            let n = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
            (buf.len() >= 4 + n).then_some(4 + n)
        }
        Door::Resp => {
            let eol = buf.windows(2).position(|w| w == b"\r\n")?;
            if buf.first() == Some(&b'$') && buf.get(1) != Some(&b'-') {
                let n: usize = std::str::from_utf8(&buf[1..eol]).ok()?.parse().ok()?;
                let total = eol + 2 + n + 2;
                (buf.len() >= total).then_some(total)
            } else {
                Some(eol + 2)
            }
        }
    }
}

async fn conn_loop(door: Door, port: u16, set: bool, pipeline: usize, until: Instant) -> u64 {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut rng = 0x9E37_79B9u32 ^ port as u32;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut done = 0u64;
    while Instant::now() < until {
        let mut out = Vec::new();
        for _ in 0..pipeline {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            out.extend_from_slice(&request(door, set, rng % 100_000));
        }
        s.write_all(&out).await.expect("write");
        let mut got = 0;
        while got < pipeline {
            while let Some(n) = reply_len(door, &buf) {
                buf.drain(..n);
                got += 1;
                if got == pipeline {
                    break;
                }
            }
            if got < pipeline {
                let n = s.read(&mut chunk).await.expect("read");
                assert!(n > 0, "server closed the connection");
                buf.extend_from_slice(&chunk[..n]);
            }
        }
        done += pipeline as u64;
    }
    done
}

/// CPU time of every thread of process `pid`, in ns (0 when unreadable).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Requests per second, and the server's CPU µs per request (NaN without `--server-pid`).
async fn run(o: &Opts, door: Door, set: bool) -> (f64, f64) {
    let port = if door == Door::Resp {
        o.port
    } else {
        o.msgpack
    };
    let cpu0 = cpu_ns(o.server_pid);
    let start = Instant::now();
    let until = start + Duration::from_secs(o.secs);
    let tasks: Vec<_> = (0..o.conns)
        .map(|_| tokio::spawn(conn_loop(door, port, set, o.pipeline, until)))
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    let cpu = if o.server_pid == 0 {
        f64::NAN
    } else {
        (cpu_ns(o.server_pid) - cpu0) as f64 / 1000.0 / total as f64
    };
    (rate, cpu)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let o = opts();
    println!(
        "{} connections, pipeline {}, {} s per run, {} rounds",
        o.conns, o.pipeline, o.secs, o.rounds
    );
    for (name, set) in [("SET", true), ("GET", false)] {
        let (mut resp, mut mp) = (Vec::new(), Vec::new());
        for _ in 0..o.rounds {
            resp.push(run(&o, Door::Resp, set).await);
            mp.push(run(&o, Door::MsgPack, set).await);
        }
        let col = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| median(v.iter().map(f).collect());
        let (r, m) = (col(&resp, |x| x.0), col(&mp, |x| x.0));
        let (rc, mc) = (col(&resp, |x| x.1), col(&mp, |x| x.1));
        println!(
            "{name}: resp {r:.0}/s  msgpack {m:.0}/s  msgpack/resp {:.3}  \
             server CPU/request: resp {rc:.2} us  msgpack {mc:.2} us  msgpack/resp {:.3}",
            m / r,
            mc / rc
        );
    }
}
