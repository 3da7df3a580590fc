//! `supervised`: telling a service manager when the server is ready, as Redis does.
//!
//! * **systemd** (`Type=notify` units, such as Debian's `redis-server.service`): the manager
//!   names a datagram socket in `NOTIFY_SOCKET` and waits for `READY=1` on it before it counts the
//!   service as started (and starts what depends on it); without that message it kills the
//!   service at `TimeoutStartSec`. The messages and their moments are Redis 7's: a `STATUS=` line
//!   when loading starts, `STATUS=` and `READY=1` once the data is loaded (a replica says it is
//!   read-only and waiting for its primary, and updates its status once a sync completes), and
//!   `STOPPING=1` when a shutdown begins. Written by hand rather than through libsystemd: the
//!   protocol is one datagram per message to a path or an abstract (`@`) address.
//! * **upstart** (`expect stop`): the process stops itself with SIGSTOP once configured, and
//!   upstart continues it.
//! * **auto**: `UPSTART_JOB` in the environment picks upstart, else `NOTIFY_SOCKET` systemd.
//!
//! A supervised server does not fork with `daemonize yes` (the manager tracks the process it
//! started), as in Redis. INFO's `process_supervised` names the mode in effect: `no` when none
//! was asked for or the manager's variable is missing.

use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;

/// Where systemd listens, when supervised by it.
enum Socket {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

/// The supervision in effect: set once, at start.
static MODE: OnceLock<Option<(&'static str, Option<Socket>)>> = OnceLock::new();

/// Decides the supervision from the `supervised` setting and the environment, before any other
/// thread exists (upstart's SIGSTOP stops the whole process). Returns whether the server is
/// supervised, and the line to log once logging is set up.
pub fn start(setting: &str) -> (bool, Option<(bool, &'static str)>) {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mode = match setting {
        "auto" if env("UPSTART_JOB").is_some() => "upstart",
        "auto" if env("NOTIFY_SOCKET").is_some() => "systemd",
        "upstart" | "systemd" => setting,
        _ => "no",
    };
    let (effect, log) = match mode {
        "systemd" => match env("NOTIFY_SOCKET").and_then(|s| parse(s.as_encoded_bytes())) {
            Some(sock) => (
                Some(("systemd", Some(sock))),
                Some((
                    false,
                    "Supervised by systemd. Please make sure you set appropriate values for \
                     TimeoutStartSec and TimeoutStopSec in your service unit.",
                )),
            ),
            None => (
                None,
                Some((true, "systemd supervision error: NOTIFY_SOCKET not found!")),
            ),
        },
        "upstart" if env("UPSTART_JOB").is_some() => {
            // SAFETY: raise(3) on this process; upstart continues it.
            unsafe { libc::raise(libc::SIGSTOP) };
            (
                Some(("upstart", None)),
                Some((
                    false,
                    "supervised by upstart, will stop to signal readiness.",
                )),
            )
        }
        "upstart" => (
            None,
            Some((
                true,
                "upstart supervision requested, but UPSTART_JOB not found!",
            )),
        ),
        _ => (None, None),
    };
    let supervised = effect.is_some();
    let _ = MODE.set(effect);
    if supervised {
        notify("STATUS=Eddy is loading...\n");
    }
    (supervised, log)
}

/// `NOTIFY_SOCKET` as sd_notify reads it: an absolute path, or `@name` for the abstract
/// namespace.
fn parse(v: &[u8]) -> Option<Socket> {
    match v {
        [b'/', ..] => Some(Socket::Path(std::path::PathBuf::from(
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(v),
        ))),
        [b'@', name @ ..] if !name.is_empty() => Some(Socket::Abstract(name.to_vec())),
        _ => None,
    }
}

/// INFO's `process_supervised`.
pub fn mode() -> &'static str {
    match MODE.get() {
        Some(Some((m, _))) => m,
        _ => "no",
    }
}

/// Sends `msg` (one or more `KEY=value\n` lines) to systemd; nothing when not supervised by it.
/// Failures are logged, not fatal: the server serves either way.
pub fn notify(msg: &str) {
    let Some(Some((_, Some(sock)))) = MODE.get() else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|d| match sock {
        Socket::Path(p) => d.send_to(msg.as_bytes(), p),
        Socket::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            d.send_to_addr(msg.as_bytes(), &addr)
        }
    });
    if let Err(e) = sent {
        tracing::warn!("Can't send notification to systemd: {e}");
    }
}

/// The start-up notification, once the data is loaded: a replica is read-only until its first
/// sync (its status changes after it, [`synced`]).
pub fn ready(replica: bool) {
    if replica {
        notify(
            "STATUS=Ready to accept connections in read-only mode. Waiting for MASTER <-> \
             REPLICA sync\nREADY=1\n",
        );
    } else {
        notify("STATUS=Ready to accept connections\nREADY=1\n");
    }
}

/// A replica's sync with its primary completed: in full, or continued (`partial`). A status
/// only: `READY=1` was sent at start.
pub fn synced(partial: bool) {
    notify(if partial {
        "STATUS=MASTER <-> REPLICA sync: Partial Resynchronization accepted. Ready to accept \
         connections in read-write mode.\n"
    } else {
        "STATUS=MASTER <-> REPLICA sync: Finished with success. Ready to accept connections \
         in read-write mode.\n"
    });
}
