//! `eddy-server`: parse the configuration, start tracing, run the server.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match eddy::config::Config::from_args(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("eddy-server: {e}");
            std::process::exit(1);
        }
    };
    let level = match config.get("loglevel").as_str() {
        "debug" => "debug",
        "verbose" => "info",
        "warning" => "warn",
        _ => "info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let threads = config.get_i64("io-threads").max(1) as usize;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("eddy-server: can't start runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(eddy::server::run(config)) {
        eprintln!("eddy-server: {e}");
        std::process::exit(1);
    }
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
}
