//! `eddy-server`: parse the configuration, start tracing, run the server.

// The system allocator (glibc's malloc): against mimalloc, measured with
// ../shared/bench/memory-vs-redis.sh on this workload, it held 300,000 small strings in 40% less
// RSS (0.78x Redis against 1.30x) and returned what a burst allocated instead of keeping it
// resident, at the same throughput. The wrapper counts live bytes for INFO's `used_memory`.
#[global_allocator]
static GLOBAL: eddy::util::alloc::Counting<std::alloc::System> =
    eddy::util::alloc::Counting(std::alloc::System);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match eddy::config::Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("eddy-server: {e}");
            std::process::exit(1);
        }
    };
    // Before any thread exists: fork(2) keeps only the calling thread.
    // Supervised, the server does not fork: the service manager tracks the process it started.
    let (supervised, supervise_log) = eddy::server::supervise::start(&config.get("supervised"));
    let background = config.get("daemonize") == "yes" && !supervised;
    let log_to_file = !config.get("logfile").is_empty();
    if background {
        daemonize();
    }
    let level = match config.get("loglevel").as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let log = tracing_subscriber::fmt().with_env_filter(filter);
    // `logfile` as Redis reads it: empty logs to the standard output stream (stderr here), a
    // path is opened for appending once, and a path that cannot be opened stops the start.
    match config.get("logfile").as_str() {
        "" => log
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        path => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => log
                .with_writer(std::sync::Mutex::new(f))
                .with_ansi(false)
                .init(),
            Err(e) => {
                eprintln!("eddy-server: Can't open the log file: {path}: {e}");
                std::process::exit(1);
            }
        },
    }
    let pidfile = match config.get("pidfile") {
        p if !p.is_empty() => Some(p),
        _ if background => Some("/var/run/redis.pid".to_string()),
        _ => None,
    }
    .filter(|p| write_pidfile(p));
    match supervise_log {
        Some((true, line)) => tracing::warn!("{line}"),
        Some((false, line)) => tracing::info!("{line}"),
        None => {}
    }
    for (option, value) in config.inert_settings() {
        tracing::warn!(option, value = %value, "{}", eddy::config::INERT_NOTE);
    }
    // reqwest (trigger HTTP targets) is built without a crypto provider: rustls uses ring.
    eddy::triggers::http::install_crypto();
    // One I/O thread by default, as Redis serves clients from one thread. With two, the
    // workers woke each other for every handful of connections (3.5x Redis's context switches)
    // and a hot key's data moved between cores; on this project's 2-core benchmark machine,
    // where the client shares the cores, `vs-redis.sh --quick --configs c50,P16` gave a
    // geomean of 0.95 with CPU per request 1.12x Redis's for two threads, against 1.09-1.12
    // and 0.95-0.97x for one (ZADD -P16 on one key: 0.58 against 0.97-1.21). The log writer,
    // snapshots and disk reads of the change feed run on threads of their own either way;
    // `--io-threads N` adds workers where cores are to spare.
    let threads = config.get_i64("io-threads").max(1) as usize;
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    // Connections are served in the order their requests arrived, as Redis's event loop does.
    // tokio's LIFO slot runs the task woken last first: of two connections made ready in one
    // poll, the second ran first (57% of 200 trials of XREADGROUP BLOCK on one connection then
    // DEL on another, sent one after the other; Redis: none). A client that sends SUBSCRIBE and
    // then, on another connection, PUBLISH, could miss its message.
    #[cfg(tokio_unstable)]
    rt.disable_lifo_slot();
    let rt = match rt
        .worker_threads(threads)
        // Ticks between polls for I/O while tasks are ready (tokio's default is 61). That poll
        // also resumes yielded tasks, and the `appendfsync always` group commit yields so that
        // one fsync covers every client that was ready (`changes::writer::wait_durable_round`):
        // at 61 the poll cut rounds short, 14.0-14.8 writes per fsync at 50 clients, against
        // 16.5-17.7 at 256 (4 runs each, measured when a round was a single yield). A batch is
        // one short poll, so I/O is still picked up promptly.
        .event_interval(256)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("eddy-server: can't start runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = rt.block_on(eddy::server::run(config));
    if let Some(p) = pidfile {
        tracing::info!("Removing the pid file.");
        let _ = std::fs::remove_file(p);
    }
    if let Err(e) = result {
        if log_to_file {
            tracing::error!("{e}");
        }
        eprintln!("eddy-server: {e}");
        std::process::exit(1);
    }
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
}

/// `daemonize yes`, as Redis does it: the parent exits, the child leads a new session with its
/// standard streams on /dev/null (so with `logfile ""` the log goes nowhere, as Redis's does).
fn daemonize() {
    // SAFETY: called before any other thread exists; the child continues single-threaded.
    unsafe {
        match libc::fork() {
            -1 => {
                eprintln!(
                    "eddy-server: can't fork: {}",
                    std::io::Error::last_os_error()
                );
                std::process::exit(1);
            }
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
            if null > 2 {
                libc::close(null);
            }
        }
    }
}

/// Writes this process's id to `path`, as Redis writes `pidfile`; false (logged) if it can't.
fn write_pidfile(path: &str) -> bool {
    match std::fs::write(path, format!("{}\n", std::process::id())) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(path, error = %e, "Failed to write PID file");
            false
        }
    }
}
