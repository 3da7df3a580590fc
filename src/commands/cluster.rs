//! The cluster and replication commands a standalone primary answers, as Redis 7.0 answers them
//! with `cluster-enabled no`: every CLUSTER subcommand (HELP included), READONLY, READWRITE and
//! ASKING reply `ERR This instance has cluster support disabled`, after the usual arity and
//! unknown-subcommand checks, so clients that probe for a cluster (`CLUSTER INFO`, `CLUSTER
//! SLOTS`) learn that there is none. The table keeps Redis's subcommands, arities, flags and ACL
//! categories, so COMMAND INFO and COMMAND DOCS show what Redis shows.
//!
//! REPLICAOF (SLAVEOF) `host port` makes Eddy follow a Redis primary (`server::follow`);
//! `NO ONE` stops following and keeps the data.

use super::args::is;
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::protocol::resp::Args;

const SV: &[&str] = &["admin", "slow", "dangerous"];
const SLOW: &[&str] = &["slow"];
const CONN: &[&str] = &["fast", "connection"];

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "cluster",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: SLOW,
        group: "cluster",
        summary: "A container for Redis Cluster commands.",
        syntax: "",
        since: "3.0.0",
        complexity: "Depends on subcommand.",
        handler: super::container,
        subcommands: &[
            cmd!("addslots", -3, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Assign new hash slots to receiving node.",
                "slot [slot ...]", "3.0.0", "O(N) where N is the total number of hash slot arguments"),
            cmd!("addslotsrange", -4, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Assign new hash slots to receiving node.",
                "start-slot end-slot [start-slot end-slot ...]", "7.0.0", "O(N) where N is the total number of the slots between the start slot and end slot arguments."),
            cmd!("bumpepoch", 2, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Advance the cluster config epoch.",
                "", "3.0.0", "O(1)"),
            cmd!("count-failure-reports", 3, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Return the number of failure reports active for a given node.",
                "node-id", "3.0.0", "O(N) where N is the number of failure reports"),
            cmd!("countkeysinslot", 3, STALE, (0, 0, 0), SLOW, "cluster", disabled,
                "Return the number of local keys in the specified hash slot.",
                "slot", "3.0.0", "O(1)"),
            cmd!("delslots", -3, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Set hash slots as unbound in receiving node.",
                "slot [slot ...]", "3.0.0", "O(N) where N is the total number of hash slot arguments"),
            cmd!("delslotsrange", -4, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Set hash slots as unbound in receiving node.",
                "start-slot end-slot [start-slot end-slot ...]", "7.0.0", "O(N) where N is the total number of the slots between the start slot and end slot arguments."),
            cmd!("failover", -2, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Forces a replica to perform a manual failover of its master.",
                "[FORCE | TAKEOVER]", "3.0.0", "O(1)"),
            cmd!("flushslots", 2, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Delete a node's own slots information.",
                "", "3.0.0", "O(1)"),
            cmd!("forget", 3, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Remove a node from the nodes table.",
                "node-id", "3.0.0", "O(1)"),
            cmd!("getkeysinslot", 4, STALE, (0, 0, 0), SLOW, "cluster", disabled,
                "Return local key names in the specified hash slot.",
                "slot count", "3.0.0", "O(log(N)) where N is the number of requested keys"),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), SLOW, "cluster", disabled,
                "Show helpful text about the different subcommands.",
                "", "5.0.0", "O(1)"),
            cmd!("info", 2, STALE, (0, 0, 0), SLOW, "cluster", disabled,
                "Provides info about Redis Cluster node state.",
                "", "3.0.0", "O(1)"),
            cmd!("keyslot", 3, STALE, (0, 0, 0), SLOW, "cluster", disabled,
                "Returns the hash slot of the specified key.",
                "key", "3.0.0", "O(N) where N is the number of bytes in the key"),
            cmd!("links", 2, STALE, (0, 0, 0), SLOW, "cluster", disabled,
                "Returns a list of all TCP links to and from peer nodes in cluster.",
                "", "7.0.0", "O(N) where N is the total number of Cluster nodes"),
            cmd!("meet", -4, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Force a node cluster to handshake with another node.",
                "ip port [cluster_bus_port]", "3.0.0", "O(1)"),
            cmd!("myid", 2, STALE, (0, 0, 0), SLOW, "cluster", disabled,
                "Return the node id.",
                "", "3.0.0", "O(1)"),
            cmd!("nodes", 2, STALE, (0, 0, 0), SLOW, "cluster", disabled,
                "Get Cluster config for the node.",
                "", "3.0.0", "O(N) where N is the total number of Cluster nodes"),
            cmd!("replicas", 3, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "List replica nodes of the specified master node.",
                "node-id", "5.0.0", "O(1)"),
            cmd!("replicate", 3, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Reconfigure a node as a replica of the specified master node.",
                "node-id", "3.0.0", "O(1)"),
            cmd!("reset", -2, ADMIN | NOSCRIPT | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Reset a Redis Cluster node.",
                "[HARD | SOFT]", "3.0.0", "O(N) where N is the number of known nodes. The command may execute a FLUSHALL as a side effect."),
            cmd!("saveconfig", 2, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Forces the node to save cluster state on disk.",
                "", "3.0.0", "O(1)"),
            cmd!("set-config-epoch", 3, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Set the configuration epoch in a new node.",
                "config-epoch", "3.0.0", "O(1)"),
            cmd!("setslot", -4, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "Bind a hash slot to a specific node.",
                "slot <IMPORTING node-id | MIGRATING node-id | NODE node-id | STABLE>", "3.0.0", "O(1)"),
            cmd!("shards", 2, STALE, (0, 0, 0), SLOW, "cluster", disabled,
                "Get array of cluster slots to node mappings.",
                "", "7.0.0", "O(N) where N is the total number of cluster nodes"),
            cmd!("slaves", 3, ADMIN | STALE, (0, 0, 0), SV, "cluster", disabled,
                "List replica nodes of the specified master node.",
                "node-id", "3.0.0", "O(1)"),
            cmd!("slots", 2, STALE, (0, 0, 0), SLOW, "cluster", disabled,
                "Get array of Cluster slot to node mappings.",
                "", "3.0.0", "O(N) where N is the total number of Cluster nodes"),
        ],
    },
    cmd!("readonly", 1, LOADING | STALE | FAST, (0, 0, 0), CONN, "cluster", disabled,
        "Enables read queries for a connection to a cluster replica node.",
        "", "3.0.0", "O(1)"),
    cmd!("readwrite", 1, LOADING | STALE | FAST, (0, 0, 0), CONN, "cluster", disabled,
        "Disables read queries for a connection to a cluster replica node.",
        "", "3.0.0", "O(1)"),
    cmd!("asking", 1, FAST, (0, 0, 0), CONN, "cluster", disabled,
        "Sent by cluster clients after an -ASK redirect.",
        "", "3.0.0", "O(1)"),
    cmd!("replicaof", 3, ADMIN | NOSCRIPT | STALE, (0, 0, 0), SV, "server", replicaof,
        "Make the server a replica of another instance, or promote it as master.",
        "<host port | NO ONE>", "5.0.0", "O(1)"),
    cmd!("slaveof", 3, ADMIN | NOSCRIPT | STALE, (0, 0, 0), SV, "server", replicaof,
        "Make the server a replica of another instance, or promote it as master.",
        "<host port | NO ONE>", "1.0.0", "O(1)"),
];

const DISABLED: &str = "ERR This instance has cluster support disabled";

fn disabled(_: &mut Ctx, _: Args) -> CmdResult {
    Err(DISABLED.into())
}

fn replicaof(ctx: &mut Ctx, a: Args) -> CmdResult {
    use crate::server::follow::{follow, Target};
    if ctx.srv.failover.active() {
        return Err("ERR REPLICAOF not allowed while failing over.".into());
    }
    let target = if is(a.get(1), "NO") && is(a.get(2), "ONE") {
        None
    } else {
        if ctx
            .sess
            .info
            .replica
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err("ERR Command is not valid when client is a replica.".into());
        }
        Some(Target::parse(a.get(1), a.get(2)).map_err(CmdError::from)?)
    };
    let Some(srv) = ctx.srv.me() else {
        return Err("ERR the server is shutting down".into());
    };
    if follow(&srv, target) {
        ctx.out.ok();
    } else {
        ctx.out.simple("OK Already connected to specified master");
    }
    Ok(())
}
