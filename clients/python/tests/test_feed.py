"""The change feed: typed events, filters, images, start positions, snapshot-then-follow, and
resuming across a forced disconnect (the socket killed, the server untouched) with nothing lost
or repeated; a clear error when the server says it cannot resume."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

import eddy
from eddy_server import EddyServer


async def take(feed: eddy.Feed, n: int) -> List[eddy.Change]:
    out = []
    while len(out) < n:
        ch = await feed.get(timeout=10)
        assert ch is not None, f"only {len(out)} of {n} changes arrived: {out}"
        out.append(ch)
    return out


async def test_follow_typed_events(url: str) -> None:
    async with eddy.Client(url) as c:
        async with await c.follow("latest", match="fd:typed:*", images="new") as feed:
            await c.execute("SET", "fd:typed:1", "paid", "PX", 60000)
            await c.execute("SET", "fd:other", "x")
            await c.execute("DEL", "fd:typed:1")
            await c.execute("SET", b"fd:typed:\xff", b"\x00\xfe")
            a, b, bin_ = await take(feed, 3)
        assert (a.key, a.type, a.event, a.change, a.origin) == (
            "fd:typed:1", "string", "set", "insert", "client")
        assert a.args[:3] == ["SET", "fd:typed:1", "paid"] and a.args[3] == "PXAT"
        assert a.new == "paid" and a.old is None and a.db == 0 and a.ts > 0
        assert (b.event, b.change, b.type) == ("del", "remove", "none")
        assert b.offset > a.offset
        # Values are str when valid UTF-8, bytes otherwise; decode_responses=False: always bytes.
        assert bin_.key == b"fd:typed:\xff" and bin_.new == b"\x00\xfe"


async def test_filters_and_start_positions(url: str) -> None:
    async with eddy.Client(url) as c:
        await c.execute("SET", "fd:pos:a", "1")
        await c.execute("LPUSH", "fd:pos:l", "x")
        await c.execute("SET", "fd:pos:b", "2")
        info = await c.changes_info()
        last = info["last-offset"]
        async with await c.follow("earliest", match="fd:pos:*", events=["set"]) as feed:
            got = await take(feed, 2)
        assert [ch.key for ch in got] == ["fd:pos:a", "fd:pos:b"]
        async with await c.follow(f"({got[0].offset}", match="fd:pos:*", types=["list"]) as f2:
            (lp,) = await take(f2, 1)
        assert lp.event == "lpush" and lp.type == "list"
        async with await c.follow(last, match="fd:pos:*") as f3:
            (b,) = await take(f3, 1)
        assert b.offset == last and b.key == "fd:pos:b"
        async with await c.follow(f"@{got[1].ts}", match="fd:pos:b") as f4:
            assert (await take(f4, 1))[0].offset == got[1].offset


async def test_resume_after_a_forced_disconnect(url: str) -> None:
    async with eddy.Client(url) as c:
        feed = await c.follow("latest", match="fd:resume:*")
        for i in range(5):
            await c.execute("SET", f"fd:resume:{i}", i)
        before = await take(feed, 5)
        feed._abort_connection()  # the socket dies; the server does not
        for i in range(5, 20):
            await c.execute("SET", f"fd:resume:{i}", i)
        after = await take(feed, 15)
        assert feed.reconnects >= 1
        keys = [ch.key for ch in before + after]
        assert keys == [f"fd:resume:{i}" for i in range(20)]  # nothing lost, nothing repeated
        offsets = [ch.offset for ch in before + after]
        assert offsets == sorted(set(offsets))
        # Killed again while idle: the next change still arrives exactly once.
        feed._abort_connection()
        while feed.reconnects < 2:
            await asyncio.sleep(0.01)
        await c.execute("SET", "fd:resume:last", "x")
        (last,) = await take(feed, 1)
        assert last.key == "fd:resume:last"
        assert await feed.get(timeout=0.2) is None
        await feed.close()


async def test_cannot_resume_is_an_error(url: str) -> None:
    async with eddy.Client(url) as c:
        with pytest.raises(eddy.CannotResumeError) as e:
            await c.follow("earliest", epoch="0000not-this-log")
        assert e.value.reason == "EPOCH" and e.value.epoch
        # A feed whose log changed history while it was away: the iterator raises.
        feed = await c.follow("latest", match="fd:epoch:*")
        feed.epoch = "0000not-this-log"  # as if the server's log had been replaced
        feed._abort_connection()
        with pytest.raises(eddy.CannotResumeError) as e:
            await feed.get(timeout=10)
        assert e.value.reason == "EPOCH"
        with pytest.raises(eddy.CannotResumeError):
            await feed.get(timeout=1)  # stays failed
        await feed.close()


async def test_snapshot_then_follow(url: str) -> None:
    async with eddy.Client(url) as c:
        await c.execute("SET", "fd:snap:1", "one")
        await c.execute("SET", "fd:snap:2", "two", "EX", 100)
        await c.execute("RPUSH", "fd:snap:l", "a")
        snap, feed = await c.snapshot_and_follow(match="fd:snap:*", images="new")
        rows = {e.key: e for e in snap.entries}
        assert rows["fd:snap:1"].value == "one" and rows["fd:snap:1"].pttl == -1
        assert 0 < rows["fd:snap:2"].pttl <= 100_000
        assert rows["fd:snap:l"].type == "list" and isinstance(rows["fd:snap:l"].value, bytes)
        assert snap.epoch == (await c.changes_info())["epoch"]
        await c.execute("SET", "fd:snap:1", "uno")
        (ch,) = await take(feed, 1)
        assert ch.key == "fd:snap:1" and ch.new == "uno" and ch.offset > snap.offset
        await feed.close()


async def test_changes_as_bytes(url: str) -> None:
    async with eddy.Client(url, decode_responses=False) as c:
        async with await c.follow("latest", match="fd:bytes:*", images="new") as feed:
            await c.execute("SET", "fd:bytes:1", "text")
            (ch,) = await take(feed, 1)
        assert ch.key == b"fd:bytes:1" and ch.new == b"text"
        assert ch.args == [b"SET", b"fd:bytes:1", b"text"] and ch.event == "set"


async def test_resume_past_retention_is_trimmed() -> None:
    """A feed whose resume offset retention has deleted: the iterator raises CannotResumeError
    naming the earliest offset, instead of skipping records silently. (A filtered feed resumes
    from after the last event it *received*: the server sends no progress for the records its
    filter skipped, see the report in clients/README.md.)"""
    from eddy_server import EddyServer

    srv = EddyServer("--changes-segment-bytes", "65536", "--changes-retention-ms", "1",
                     "--save", "")
    try:
        async with eddy.Client(srv.ws_url) as c:
            feed = await c.follow("earliest", match="trim:wanted:*")
            assert feed.next_offset == 1
            payload = "x" * 200
            for chunk in range(10):  # about twenty 64 KB segments
                await asyncio.gather(*(c.execute("SET", f"trim:other:{chunk}:{i}", payload)
                                       for i in range(500)))
            assert await c.execute("BGSAVE") == "Background saving started"
            while (await c.changes_info())["first-offset"] <= 1:
                await asyncio.sleep(0.05)
            feed._abort_connection()
            with pytest.raises(eddy.CannotResumeError) as e:
                await feed.get(timeout=10)
            info = await c.changes_info()
            assert e.value.reason == "TRIMMED" and e.value.earliest == info["first-offset"]
            await feed.close()
    finally:
        srv.stop()


async def test_resume_after_the_server_kills_the_connection(url: str) -> None:
    async with eddy.Client(url) as c:
        feed = await c.follow("latest", match="fd:kill:*", images="new")
        await c.execute("SET", "fd:kill:1", "a")
        (one,) = await take(feed, 1)
        assert feed._conn is not None
        victim = await feed._conn.call("CLIENT", "ID")
        assert await c.execute("CLIENT", "KILL", "ID", victim) == 1
        await c.execute("SET", "fd:kill:2", "b")
        (two,) = await take(feed, 1)
        assert (two.key, two.new) == ("fd:kill:2", "b") and two.offset > one.offset
        assert feed.reconnects == 1
        await feed.close()


async def test_a_slow_consumer_holds_the_server_back(url: str) -> None:
    """A full client buffer stops reading the socket; the server pauses the subscription (its
    lag grows) instead of the client's memory, and everything arrives once read, in order."""
    async with eddy.Client(url) as c:
        feed = await c.follow("latest", match="fd:slow:*", images="new", buffer=8)
        assert feed._conn is not None
        me = await feed._conn.call("CLIENT", "ID")
        value = "v" * 4096
        n = 2000
        for start in range(0, n, 250):
            await asyncio.gather(*(c.execute("SET", f"fd:slow:{i}", value)
                                   for i in range(start, start + 250)))

        async def lag() -> int:
            for line in (await c.execute("INFO", "changes")).splitlines():
                if line.startswith(f"reader_sub_{me}:"):
                    return int(line.rsplit("lag=", 1)[1].split(",")[0])
            raise AssertionError(f"no reader_sub_{me} in INFO changes")

        while await lag() == 0:
            await asyncio.sleep(0.01)
        assert len(feed._items) <= 8
        got = await take(feed, n)
        assert [ch.key for ch in got] == [f"fd:slow:{i}" for i in range(n)]
        assert await lag() == 0
        await feed.close()
