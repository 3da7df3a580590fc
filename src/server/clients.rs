//! The registry of connected clients, for CLIENT LIST/INFO/KILL and INFO clients.
//!
//! Each connection publishes a [`ClientInfo`] whose fields it updates once per batch of commands
//! (atomics, or a mutex only for rarely written strings), so listing clients never touches a
//! connection's own state and the hot path writes to no shared cache line.
//!
//! [`trim_idle_buffers`] is the part of Redis's `clientsCron` that resizes query buffers: a
//! connection that has been idle for [`IDLE_TRIM_SECS`] gives its read, argument and reply
//! buffers back, so a client that once sent or fetched a large value does not hold that much
//! memory for as long as it stays connected (1,000 clients that each SET and GET a 200 KB value
//! held 432 KB each, against Redis's 26 KB), and idle connections hold no buffers at all.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Notify;

pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    /// ms since `created` of the last command.
    pub last_active_ms: AtomicU64,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    /// Table id of the last command run.
    pub last_cmd: AtomicUsize,
    pub qbuf: AtomicUsize,
    /// Free space in the read buffer and the reply buffer's capacity (CLIENT LIST `qbuf-free`,
    /// `rbs`), published once per batch like `qbuf`; what [`trim_idle_buffers`] looks at.
    pub qbuf_free: AtomicUsize,
    pub rbs: AtomicUsize,
    /// Asks the connection to give its buffers back ([`trim_idle_buffers`]).
    pub trim: Notify,
    pub name: Mutex<Vec<u8>>,
    pub lib_name: Mutex<String>,
    pub lib_ver: Mutex<String>,
    pub killed: AtomicBool,
    pub kill: Notify,
    pub no_evict: AtomicBool,
    /// Pub/sub subscriptions (channels, patterns, shard channels), for CLIENT LIST.
    pub sub: AtomicUsize,
    pub psub: AtomicUsize,
    pub ssub: AtomicUsize,
    /// Bytes of pub/sub messages queued for this client and not yet written to its socket
    /// (CLIENT LIST `omem`); what `client-output-buffer-limit` is enforced on.
    pub omem: AtomicUsize,
    /// In MONITOR mode (flag `O`).
    pub monitor: AtomicBool,
    /// A replica's connection, after its PSYNC or SYNC (flag `S`, type `replica`).
    pub replica: AtomicBool,
    /// The link to the primary this server follows (flag `M`, type `master`; `follow`).
    pub master: AtomicBool,
    /// Waiting for CLIENT PAUSE to end (flag `b`, counted in `blocked_clients`, as in Redis).
    pub paused: AtomicBool,
    /// CLIENT TRACKING state bits (`pubsub::tracking::FLAG_*`: flags `t`, `R`, `B`).
    pub tracking: AtomicU8,
    /// CLIENT TRACKING's redirect target (0: none).
    pub redir: AtomicU64,
    /// Commands queued in MULTI, -1 outside MULTI (CLIENT LIST `multi=`, flag `x`); published
    /// once per batch like `db`.
    pub multi: std::sync::atomic::AtomicI64,
    /// The front door (`server::door::Door` as u8), set once when the connection registers.
    pub door: AtomicU8,
    /// The user logged in, when not `default` (CLIENT LIST `user=`; ACL DELUSER closes the
    /// connections of the users it deletes).
    pub user: Mutex<Option<Arc<crate::acl::User>>>,
}

/// Redis's client types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientClass {
    Normal,
    Master,
    Replica,
    PubSub,
}

impl ClientClass {
    /// A TYPE filter's value, or Redis's error for an unknown one.
    pub fn parse(t: &[u8]) -> Result<ClientClass, crate::error::CmdError> {
        let eq = |w: &str| t.eq_ignore_ascii_case(w.as_bytes());
        Ok(if eq("normal") {
            ClientClass::Normal
        } else if eq("master") {
            ClientClass::Master
        } else if eq("replica") || eq("slave") {
            ClientClass::Replica
        } else if eq("pubsub") {
            ClientClass::PubSub
        } else {
            return Err(crate::error::CmdError::owned(format!(
                "ERR Unknown client type '{}'",
                crate::error::c_text(t)
            )));
        })
    }
}

impl ClientInfo {
    pub fn idle_secs(&self) -> u64 {
        let now = self.created.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000
    }

    /// The read buffer (with its free space) and the reply buffer, as last published.
    fn buffer_bytes(&self) -> (usize, usize) {
        (
            self.qbuf.load(Ordering::Relaxed) + self.qbuf_free.load(Ordering::Relaxed),
            self.rbs.load(Ordering::Relaxed),
        )
    }

    /// The name of the user logged in.
    pub fn user_name(&self) -> String {
        match &*self.user.lock() {
            Some(u) => u.name_lossy(),
            None => "default".into(),
        }
    }

    /// Whether the peer is on this host (a loopback address), as Redis's `connIsLocal`:
    /// `enable-debug-command local`, protected mode.
    pub fn is_local(&self) -> bool {
        self.is_unix() || is_loopback(&self.addr)
    }

    /// Whether it came through the Unix socket (whose address is its path).
    pub fn is_unix(&self) -> bool {
        self.addr.starts_with('/')
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    /// Whether the client is in pub/sub mode (Redis's `CLIENT_PUBSUB`, flag `P`).
    pub fn is_pubsub(&self) -> bool {
        self.sub.load(Ordering::Relaxed)
            + self.psub.load(Ordering::Relaxed)
            + self.ssub.load(Ordering::Relaxed)
            > 0
    }

    /// CLIENT LIST's `flags=`, in Redis's order (`N` when none applies).
    pub fn flags(&self) -> String {
        let mut s = String::new();
        if self.replica.load(Ordering::Relaxed) {
            s.push('S');
        }
        if self.master.load(Ordering::Relaxed) {
            s.push('M');
        }
        if self.monitor.load(Ordering::Relaxed) {
            s.push('O');
        }
        if self.is_pubsub() {
            s.push('P');
        }
        if self.multi.load(Ordering::Relaxed) >= 0 {
            s.push('x');
        }
        if self.paused.load(Ordering::Relaxed) {
            s.push('b');
        }
        crate::pubsub::tracking::flag_chars(self, &mut s);
        if self.is_unix() {
            s.push('U');
        }
        if s.is_empty() {
            s.push('N');
        }
        s
    }

    /// The client's type, as CLIENT LIST TYPE and CLIENT KILL TYPE filter by it.
    pub fn class(&self) -> ClientClass {
        if self.replica.load(Ordering::Relaxed) {
            ClientClass::Replica
        } else if self.master.load(Ordering::Relaxed) {
            ClientClass::Master
        } else if self.is_pubsub() {
            ClientClass::PubSub
        } else {
            ClientClass::Normal
        }
    }

    pub fn door(&self) -> super::door::Door {
        super::door::Door::from_u8(self.door.load(Ordering::Relaxed))
    }

    /// One line of CLIENT LIST, as Redis formats it, and for clients of the other front doors
    /// a last field naming the door (`door=websocket`, `door=msgpack`): RESP clients' lines
    /// stay byte for byte Redis's.
    pub fn line(&self, cmd_name: &str) -> String {
        let name = String::from_utf8_lossy(&self.name.lock()).into_owned();
        let qbuf = self.qbuf.load(Ordering::Relaxed);
        let qbuf_free = self.qbuf_free.load(Ordering::Relaxed);
        let rbs = self.rbs.load(Ordering::Relaxed);
        let omem = self.omem.load(Ordering::Relaxed);
        format!(
            "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={} db={} sub={} psub={} \
             ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 \
             oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={} lib-name={} \
             lib-ver={}{}",
            self.id,
            self.addr,
            self.laddr,
            name,
            self.created.elapsed().as_secs(),
            self.idle_secs(),
            self.flags(),
            self.db.load(Ordering::Relaxed),
            self.sub.load(Ordering::Relaxed),
            self.psub.load(Ordering::Relaxed),
            self.ssub.load(Ordering::Relaxed),
            self.multi.load(Ordering::Relaxed),
            qbuf,
            qbuf_free,
            rbs,
            omem,
            qbuf + qbuf_free + rbs + omem,
            cmd_name,
            self.user_name(),
            crate::pubsub::tracking::redir_field(self),
            self.resp.load(Ordering::Relaxed),
            self.lib_name.lock(),
            self.lib_ver.lock(),
            match self.door() {
                super::door::Door::Resp => String::new(),
                d => format!(" door={}", d.name()),
            },
        )
    }
}

#[derive(Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
}

impl Clients {
    pub fn new() -> Self {
        Clients {
            map: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn register(&self, id: u64, addr: String, laddr: String) -> Arc<ClientInfo> {
        let info = Arc::new(ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            last_active_ms: AtomicU64::new(0),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_cmd: AtomicUsize::new(usize::MAX),
            qbuf: AtomicUsize::new(0),
            qbuf_free: AtomicUsize::new(0),
            rbs: AtomicUsize::new(0),
            trim: Notify::new(),
            name: Mutex::new(Vec::new()),
            lib_name: Mutex::new(String::new()),
            lib_ver: Mutex::new(String::new()),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            no_evict: AtomicBool::new(false),
            sub: AtomicUsize::new(0),
            psub: AtomicUsize::new(0),
            ssub: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            monitor: AtomicBool::new(false),
            replica: AtomicBool::new(false),
            master: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            tracking: AtomicU8::new(0),
            redir: AtomicU64::new(0),
            multi: std::sync::atomic::AtomicI64::new(-1),
            door: AtomicU8::new(0),
            user: Mutex::new(None),
        });
        self.map.lock().insert(id, info.clone());
        info
    }

    pub fn unregister(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    pub fn count(&self) -> usize {
        self.map.lock().len()
    }

    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.map.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map.lock().get(&id).cloned()
    }

    /// The largest read buffer (with its free space) and the largest reply buffer plus queued
    /// pushes among the connections, for INFO's `client_recent_max_input_buffer` and
    /// `client_recent_max_output_buffer`. Redis reports the peaks of the last few seconds;
    /// buffers here are held until the connection idles (`trim_idle_buffers`), so the current
    /// sizes cover about the same window.
    pub fn largest_buffers(&self) -> (usize, usize) {
        self.map.lock().values().fold((0, 0), |(i, o), c| {
            let (input, reply) = c.buffer_bytes();
            (i.max(input), o.max(reply + c.omem.load(Ordering::Relaxed)))
        })
    }

    /// Asks every connection idle for [`IDLE_TRIM_SECS`] that still holds buffers to give them
    /// back. A connection that gave them back publishes zero, so it is asked once per idle spell.
    fn ask_idle_to_trim(&self) {
        for info in self.map.lock().values() {
            let (input, reply) = info.buffer_bytes();
            if input + reply > 0 && info.idle_secs() >= IDLE_TRIM_SECS {
                info.trim.notify_one();
            }
        }
    }
}

/// Redis resizes the query buffer of a client idle for more than 2 seconds.
pub const IDLE_TRIM_SECS: u64 = 2;

/// Once a second, asks idle connections to give their buffers back (see the module docs).
pub async fn trim_idle_buffers(srv: Arc<crate::server::Server>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if srv.shutting_down() {
            return;
        }
        srv.clients.ask_idle_to_trim();
    }
}

/// Whether `addr` (`ip:port`, as a client's address is kept) is a loopback address.
pub fn is_loopback(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>()
        .is_ok_and(|a| is_loopback_ip(a.ip()))
}

/// Whether `ip` is a loopback address (IPv4-mapped IPv6 ones included).
pub fn is_loopback_ip(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
        ip => ip.is_loopback(),
    }
}
