//! Pub/sub commands: SUBSCRIBE PSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE PUBLISH, the sharded
//! SSUBSCRIBE SUNSUBSCRIBE SPUBLISH, and PUBSUB CHANNELS NUMSUB NUMPAT SHARDCHANNELS
//! SHARDNUMSUB HELP.
//!
//! The (un)subscription replies are push messages (`>3` in RESP3, `*3` in RESP2), one per
//! channel, as Redis sends them; the count they carry is channels plus patterns, or shard
//! channels alone for the sharded commands. None of these commands changes the keyspace, so none
//! records a change. The registries and delivery are `pubsub`'s; which commands a RESP2 client
//! may run while subscribed is checked by the dispatcher (`commands::execute`).

use super::{cmd, container, flag::*, CommandSpec, Ctx};
use crate::error::{self, CmdResult};
use crate::protocol::resp::Args;
use crate::pubsub::{ClientSubs, Kind};

const P: &[&str] = &[];
const PS: u32 = PUBSUB | LOADING | STALE;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("subscribe", -2, PS | NOSCRIPT, (0, 0, 0), P, "pubsub", subscribe,
        "Listen for messages published to the given channels", "channel [channel ...]", "2.0.0",
        "O(N) where N is the number of channels to subscribe to."),
    cmd!("psubscribe", -2, PS | NOSCRIPT, (0, 0, 0), P, "pubsub", psubscribe,
        "Listen for messages published to channels matching the given patterns",
        "pattern [pattern ...]", "2.0.0",
        "O(N) where N is the number of patterns the client is already subscribed to."),
    cmd!("ssubscribe", -2, PS | NOSCRIPT, (1, -1, 1), P, "pubsub", ssubscribe,
        "Listen for messages published to the given shard channels",
        "shardchannel [shardchannel ...]", "7.0.0",
        "O(N) where N is the number of shard channels to subscribe to."),
    cmd!("unsubscribe", -1, PS | NOSCRIPT, (0, 0, 0), P, "pubsub", unsubscribe,
        "Stop listening for messages posted to the given channels", "[channel [channel ...]]",
        "2.0.0", "O(N) where N is the number of clients already subscribed to a channel."),
    cmd!("punsubscribe", -1, PS | NOSCRIPT, (0, 0, 0), P, "pubsub", punsubscribe,
        "Stop listening for messages posted to channels matching the given patterns",
        "[pattern [pattern ...]]", "2.0.0",
        "O(N+M) where N is the number of patterns the client is already subscribed and M is the number of total patterns subscribed in the system (by any client)."),
    cmd!("sunsubscribe", -1, PS | NOSCRIPT, (1, -1, 1), P, "pubsub", sunsubscribe,
        "Stop listening for messages posted to the given shard channels",
        "[shardchannel [shardchannel ...]]", "7.0.0",
        "O(N) where N is the number of clients already subscribed to a shard channel."),
    cmd!("publish", 3, PS | FAST, (0, 0, 0), P, "pubsub", publish,
        "Post a message to a channel", "channel message", "2.0.0",
        "O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client)."),
    cmd!("spublish", 3, PS | FAST, (1, 1, 1), P, "pubsub", spublish,
        "Post a message to a shard channel", "shardchannel message", "7.0.0",
        "O(N) where N is the number of clients subscribed to the receiving shard channel."),
    CommandSpec {
        name: "pubsub",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: &["slow"],
        group: "pubsub",
        summary: "A container for Pub/Sub commands",
        syntax: "",
        since: "2.8.0",
        complexity: "Depends on subcommand.",
        handler: container,
        subcommands: &[
            cmd!("channels", -2, PS, (0, 0, 0), P, "pubsub", pubsub_channels,
                "List active channels", "[pattern]", "2.8.0",
                "O(N) where N is the number of active channels, and assuming constant time pattern matching (relatively short channels and patterns)"),
            cmd!("numpat", 2, PS, (0, 0, 0), P, "pubsub", pubsub_numpat,
                "Get the count of unique patterns pattern subscriptions", "", "2.8.0", "O(1)"),
            cmd!("numsub", -2, PS, (0, 0, 0), P, "pubsub", pubsub_numsub,
                "Get the count of subscribers for channels", "[channel [channel ...]]", "2.8.0",
                "O(N) for the NUMSUB subcommand, where N is the number of requested channels"),
            cmd!("shardchannels", -2, PS, (0, 0, 0), P, "pubsub", pubsub_shardchannels,
                "List active shard channels", "[pattern]", "7.0.0",
                "O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels)."),
            cmd!("shardnumsub", -2, PS, (0, 0, 0), P, "pubsub", pubsub_shardnumsub,
                "Get the count of subscribers for shard channels",
                "[shardchannel [shardchannel ...]]", "7.0.0",
                "O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels"),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), P, "pubsub", pubsub_help,
                "Show helpful text about the different subcommands", "", "6.2.0", "O(1)"),
        ],
    },
];

/// The connection's subscriptions, created on first use.
fn subs<'c>(ctx: &'c mut Ctx) -> &'c mut ClientSubs {
    let (ps, info) = (ctx.srv.pubsub.clone(), ctx.sess.info.clone());
    ctx.sess
        .pubsub
        .get_or_insert_with(|| Box::new(ClientSubs::new(ps, info)))
}

/// `[kind, name, count]` as a push (RESP3) or array (RESP2); `name` None is a null. Sent
/// under CLIENT REPLY OFF too, as Redis 7.0.15 sends them.
fn confirm(ctx: &mut Ctx, kind: &str, name: Option<&[u8]>, count: usize) {
    ctx.sess.pushing = true;
    ctx.out.push(3);
    ctx.out.bulk_str(kind);
    match name {
        Some(n) => ctx.out.bulk(n),
        None => ctx.out.null(),
    }
    ctx.out.int(count as i64);
}

fn subscribe_generic(ctx: &mut Ctx, a: Args, kind: Kind, reply: &str) -> CmdResult {
    for name in a.iter().skip(1) {
        let s = subs(ctx);
        s.subscribe(kind, name);
        let n = s.count(kind);
        confirm(ctx, reply, Some(name), n);
    }
    Ok(())
}

fn unsubscribe_generic(ctx: &mut Ctx, a: Args, kind: Kind, reply: &str) -> CmdResult {
    let names: Vec<Vec<u8>> = if a.len() > 1 {
        a.iter().skip(1).map(<[u8]>::to_vec).collect()
    } else {
        ctx.sess
            .pubsub
            .as_ref()
            .map(|p| p.names(kind).iter().map(|b| b.to_vec()).collect())
            .unwrap_or_default()
    };
    if names.is_empty() {
        // Subscribed to nothing of this kind: Redis still replies once, with a null name.
        let n = ctx.sess.pubsub.as_ref().map_or(0, |p| p.count(kind));
        confirm(ctx, reply, None, n);
        return Ok(());
    }
    for name in &names {
        let n = match ctx.sess.pubsub.as_mut() {
            Some(p) => {
                p.unsubscribe(kind, name);
                p.count(kind)
            }
            None => 0,
        };
        confirm(ctx, reply, Some(name), n);
    }
    Ok(())
}

fn subscribe(ctx: &mut Ctx, a: Args) -> CmdResult {
    subscribe_generic(ctx, a, Kind::Channel, "subscribe")
}

fn psubscribe(ctx: &mut Ctx, a: Args) -> CmdResult {
    subscribe_generic(ctx, a, Kind::Pattern, "psubscribe")
}

fn ssubscribe(ctx: &mut Ctx, a: Args) -> CmdResult {
    subscribe_generic(ctx, a, Kind::Shard, "ssubscribe")
}

fn unsubscribe(ctx: &mut Ctx, a: Args) -> CmdResult {
    unsubscribe_generic(ctx, a, Kind::Channel, "unsubscribe")
}

fn punsubscribe(ctx: &mut Ctx, a: Args) -> CmdResult {
    unsubscribe_generic(ctx, a, Kind::Pattern, "punsubscribe")
}

fn sunsubscribe(ctx: &mut Ctx, a: Args) -> CmdResult {
    unsubscribe_generic(ctx, a, Kind::Shard, "sunsubscribe")
}

fn publish(ctx: &mut Ctx, a: Args) -> CmdResult {
    let n = ctx.srv.pubsub.publish(a.get(1), a.get(2));
    crate::bridge::on_publish(ctx.srv, a.get(1), a.get(2));
    ctx.out.int(n as i64);
    Ok(())
}

fn spublish(ctx: &mut Ctx, a: Args) -> CmdResult {
    let n = ctx.srv.pubsub.spublish(a.get(1), a.get(2));
    ctx.out.int(n as i64);
    Ok(())
}

/// CHANNELS and SHARDCHANNELS take at most one pattern; more is Redis's subcommand error.
fn pattern_arg<'a>(a: &Args<'a>) -> CmdResult<Option<&'a [u8]>> {
    match a.len() {
        2 => Ok(None),
        3 => Ok(Some(a.get(2))),
        _ => Err(error::subcommand_syntax(a.get(1), "pubsub")),
    }
}

fn pubsub_channels(ctx: &mut Ctx, a: Args) -> CmdResult {
    let names = ctx.srv.pubsub.channel_names(pattern_arg(&a)?);
    ctx.out.bulks(names.iter().map(|b| b.as_ref()));
    Ok(())
}

fn pubsub_shardchannels(ctx: &mut Ctx, a: Args) -> CmdResult {
    let names = ctx.srv.pubsub.shard_channel_names(pattern_arg(&a)?);
    ctx.out.bulks(names.iter().map(|b| b.as_ref()));
    Ok(())
}

fn pubsub_numpat(ctx: &mut Ctx, _a: Args) -> CmdResult {
    ctx.out.int(ctx.srv.pubsub.pattern_count() as i64);
    Ok(())
}

/// NUMSUB/SHARDNUMSUB: a flat channel/count array in RESP2 and RESP3 alike, as Redis replies.
fn numsub_generic(ctx: &mut Ctx, a: Args, shard: bool) -> CmdResult {
    let ps = &ctx.srv.pubsub;
    ctx.out.array(2 * (a.len() - 2));
    for ch in a.iter().skip(2) {
        let n = if shard {
            ps.shard_numsub(ch)
        } else {
            ps.numsub(ch)
        };
        ctx.out.bulk(ch);
        ctx.out.int(n as i64);
    }
    Ok(())
}

fn pubsub_numsub(ctx: &mut Ctx, a: Args) -> CmdResult {
    numsub_generic(ctx, a, false)
}

fn pubsub_shardnumsub(ctx: &mut Ctx, a: Args) -> CmdResult {
    numsub_generic(ctx, a, true)
}

fn pubsub_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    super::help_reply(ctx, &lines);
    Ok(())
}
