//! Per-connection state: database, protocol, authentication, name, reply mode, pub/sub
//! subscriptions, and the action the connection loop must take after the current batch (close,
//! shut down, sleep, block).

use std::sync::Arc;
use std::time::Duration;

use super::clients::ClientInfo;

/// What the connection loop does once the replies written so far are flushed.
#[derive(Debug)]
pub enum Action {
    /// QUIT, CLIENT KILL of self, protocol error: flush, then close.
    Close,
    /// SHUTDOWN: flush nothing further; the server stops (after waiting for lagging replicas
    /// unless `now`: `server::shutdown`).
    Shutdown { save: Option<bool>, now: bool },
    /// DEBUG SLEEP, WAIT: pause this client only, then flush. `timed`: the pause counts as the
    /// command's run time (DEBUG SLEEP, which Redis runs inside the command; not WAIT's wait).
    Sleep { pause: Duration, timed: bool },
    /// A blocking command found no data: wait to be served (see `keyspace::blocking`).
    Block(Blocked),
    /// CLIENT PAUSE holds back the next command: wait for the pause to end, then run it
    /// (`server::pause`).
    Pause,
    /// Another client's script holds the keyspace: wait for it to end or to turn busy, then
    /// run the next command (`scripting`).
    ScriptWait,
    /// The next command reads the change log: wait until this offset (the committed end when
    /// it arrived) is readable, then run it (`server::conn`).
    LogFence(u64),
    /// PSYNC or SYNC: the connection becomes a replica's (`server::replication`).
    Replica(Box<super::replication::SyncRequest>),
    /// WAIT with replicas connected: reply once `want` of them applied the log up to `offset`,
    /// or when `deadline` passes, with how many did.
    WaitReplicas {
        offset: u64,
        want: usize,
        deadline: Option<tokio::time::Instant>,
    },
    /// MIGRATE: transfer the keys to the target, then reply (`commands::migrate`).
    Migrate(Box<crate::commands::migrate::Migration>),
}

/// A registered wait: the waiter, the channel its reply arrives on, and its deadline.
#[derive(Debug)]
pub struct Blocked {
    pub waiter: std::sync::Arc<crate::keyspace::blocking::Waiter>,
    pub rx: tokio::sync::oneshot::Receiver<Vec<u8>>,
    /// None: wait forever.
    pub deadline: Option<tokio::time::Instant>,
    /// The command's slow-log entry and how long its first run took, logged when it unblocks.
    pub slow: Option<(crate::commands::slowlog::Entry, u64)>,
}

/// CLIENT REPLY modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
    /// Internal: the command after SKIP runs now; its reply is dropped.
    Skipping,
}

/// Change-feed pushes, already encoded for the client's protocol. Each subscription has its
/// own queue, whose receiver it holds (`changes::subscribe::Subscription`): dropping the
/// subscription drops what was queued, so nothing of it reaches the client after the
/// UNSUBSCRIBE reply, however far its task had got. The queue is bounded: a producer that finds
/// it full waits (a change-feed subscription then simply reads the log later, so memory stays
/// bounded). Pub/sub messages do not use it: a publisher must never wait, so they have their
/// own queue, limited in bytes by `client-output-buffer-limit` (see `pubsub`).
pub type PushSender = tokio::sync::mpsc::Sender<Arc<PushMsg>>;

/// One queued push message: its RESP bytes, and its re-encodings for the transcoding doors,
/// each made by the first connection that needs it. Change-feed subscriptions that share their
/// encoding (`changes::subscribe`) send the same message to many connections, so a dashboard's
/// fifty WebSocket clients transcode each message once, not fifty times.
pub struct PushMsg {
    pub resp: bytes::Bytes,
    forms: [std::sync::OnceLock<bytes::Bytes>; PUSH_FORMS],
}

/// Output variants a push can be re-encoded into (see `door::Codec::push_form`).
pub const PUSH_FORMS: usize = 3;

impl PushMsg {
    pub fn new(resp: impl Into<bytes::Bytes>) -> Arc<PushMsg> {
        Arc::new(PushMsg {
            resp: resp.into(),
            forms: Default::default(),
        })
    }

    /// The message in output variant `form`, made by `encode` the first time it is asked for.
    pub fn form(&self, form: usize, encode: impl FnOnce(&[u8]) -> Vec<u8>) -> bytes::Bytes {
        match self.forms.get(form) {
            Some(slot) => slot.get_or_init(|| encode(&self.resp).into()).clone(),
            None => encode(&self.resp).into(),
        }
    }
}

/// Capacity of a subscription's push queue, in messages (of about 16 KiB for the change feed,
/// so a subscriber that stops reading holds at most about 4 MiB here).
pub const PUSH_QUEUE: usize = 256;

pub struct Session {
    /// A network connection, whose loop delivers the pushes of [`Session::feed`] (in-process
    /// sessions have no one to deliver them to). Only these are held to ACL rules: the
    /// server's own sessions (replay, triggers) act for no user.
    pub pushes: bool,
    /// The user logged in; `None` is the default user (`acl`).
    pub user: Option<Arc<crate::acl::User>>,
    pub id: u64,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    pub reply: ReplyMode,
    /// The running command replied with pub/sub confirmations, which CLIENT REPLY OFF and
    /// SKIP do not silence (Redis's `CLIENT_PUSHING`); the connection loop clears it.
    pub pushing: bool,
    pub no_evict: bool,
    pub no_touch: bool,
    pub action: Option<Action>,
    pub info: Arc<ClientInfo>,
    /// Replaying the log at start-up: commands apply without recording.
    pub replaying: bool,
    /// Memory was over `maxmemory` when this session's script (or EXEC) started: the script's
    /// first `denyoom` command is refused, as Redis's `pre_command_oom_state` makes it.
    pub script_oom: bool,
    /// This connection's change-feed subscription (CHANGES SUBSCRIBE); dropping it stops it.
    pub feed: Option<crate::changes::subscribe::Subscription>,
    /// Pub/sub subscriptions and their message queue, from the first (P|S)SUBSCRIBE on;
    /// dropping it unsubscribes everything.
    pub pubsub: Option<Box<crate::pubsub::ClientSubs>>,
    /// MULTI queue and WATCHed keys; dropping it unwatches.
    pub tx: crate::commands::transactions::TxState,
    /// Some connection was in MONITOR mode when this batch started (`pubsub::monitor`).
    pub monitors_seen: bool,
    /// CLIENT TRACKING options while tracking is on (`pubsub::tracking`); dropping them turns
    /// tracking off.
    pub tracking: Option<Box<crate::pubsub::tracking::ClientTracking>>,
    /// The front door this connection came through.
    pub door: super::door::Door,
    /// Who the changes this session makes are recorded as: `client` for connections, `trigger`
    /// for the internal sessions triggers write dead letters through (`triggers::internal`).
    pub origin: crate::changes::Origin,
    /// The next log-reading command already waited for [`Action::LogFence`]: it runs as is,
    /// so a steady stream of other clients' writes cannot hold it back again.
    pub log_fenced: bool,
    /// What this client said with REPLCONF, should it become a replica.
    pub replconf: super::replication::ReplConf,
}

impl Session {
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Self {
        Session {
            pushes: false,
            user: None,
            id: info.id,
            db: 0,
            resp3: false,
            authenticated,
            reply: ReplyMode::On,
            pushing: false,
            no_evict: false,
            no_touch: false,
            action: None,
            info,
            replaying: false,
            script_oom: false,
            feed: None,
            pubsub: None,
            tx: Default::default(),
            monitors_seen: false,
            tracking: None,
            door: super::door::Door::Resp,
            origin: crate::changes::Origin::Client,
            log_fenced: false,
            replconf: Default::default(),
        }
    }

    /// The link to the primary this server follows (`server::follow`): its commands are
    /// obeyed, never refused for LOADING, memory, READONLY or a pause (Redis's
    /// `mustObeyClient`).
    #[inline]
    pub fn from_primary(&self) -> bool {
        self.origin == crate::changes::Origin::Replication
    }

    /// The protocol a connection of this door starts in (and RESET returns to): RESP2 on the
    /// RESP door, as in Redis; RESP3 on the others, whose formats have maps and pushes.
    pub fn door_resp3(&self) -> bool {
        self.door != super::door::Door::Resp
    }

    /// Logs in as `user` (`None`: the default user), for this session and CLIENT LIST.
    pub fn set_user(&mut self, user: Option<Arc<crate::acl::User>>) {
        *self.info.user.lock() = user.clone();
        self.user = user;
        self.authenticated = true;
    }

    /// The user logged in.
    #[inline]
    pub fn user_in<'a>(&'a self, acl: &'a crate::acl::Acl) -> &'a Arc<crate::acl::User> {
        self.user.as_ref().unwrap_or(&acl.default)
    }

    /// The user whose rules this session's commands must pass, unless that user may do
    /// anything; `None` also for the server's own sessions.
    #[inline]
    pub fn restricted<'a>(&'a self, acl: &'a crate::acl::Acl) -> Option<&'a Arc<crate::acl::User>> {
        if !self.pushes {
            return None;
        }
        let u = self.user_in(acl);
        (!u.unrestricted()).then_some(u)
    }

    /// In pub/sub mode (Redis's `CLIENT_PUBSUB`): subscribed to anything.
    pub fn subscribed(&self) -> bool {
        self.pubsub.as_ref().is_some_and(|p| p.total() > 0)
    }
}
