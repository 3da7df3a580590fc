"""Consumer groups: read, pending, ack, claim (with delivery counts), blocking reads, seek."""

from __future__ import annotations

import asyncio

import pytest

import eddy


async def test_read_pending_ack_claim(url: str) -> None:
    async with eddy.Client(url) as c:
        g = c.group("gr-billing")
        assert await g.create("latest", match="gr:order:*") is True
        assert await g.create("latest", exist_ok=True) is False
        with pytest.raises(eddy.ResponseError) as e:
            await g.create("latest")
        assert e.value.code == "BUSYGROUP"
        for i in range(3):
            await c.execute("SET", f"gr:order:{i}", i)
        await c.execute("SET", "gr:other", "x")

        first = await g.read("w1", count=2)
        assert [ch.key for ch in first] == ["gr:order:0", "gr:order:1"]
        rest = await g.read("w2", count=10)
        assert [ch.key for ch in rest] == ["gr:order:2"]
        assert await g.read("w1") == []

        pending = await g.pending()
        assert [(p.offset, p.consumer, p.deliveries) for p in pending] == [
            (first[0].offset, "w1", 1), (first[1].offset, "w1", 1), (rest[0].offset, "w2", 1)]
        assert [p.offset for p in await g.pending(consumer="w2")] == [rest[0].offset]

        assert await g.ack(first[0]) == 1
        assert await g.ack(first[0].offset) == 0  # no longer pending

        claimed = await g.claim("w2", 0, first[1].offset)
        assert [ch.offset for ch in claimed] == [first[1].offset]
        p = {e.offset: e for e in await g.pending()}
        assert p[first[1].offset].consumer == "w2" and p[first[1].offset].deliveries == 2
        assert await g.claim("w3", 3_600_000, rest[0].offset) == []  # not idle long enough

        assert await g.ack(*claimed, rest[0]) == 2
        assert await g.pending() == []
        info = await g.info()
        assert info is not None and info["acked"] == 3 and info["pending"] == 0
        assert await g.destroy() is True
        assert await g.info() is None


async def test_blocking_read_and_seek(url: str) -> None:
    async with eddy.Client(url) as c, eddy.Client(url) as worker:
        g = c.group("gr-block")
        await g.create("latest", match="gr:block:*")
        reader = asyncio.ensure_future(worker.group("gr-block").read("w", block=10_000))
        while not (await c.execute("INFO", "clients")).count("blocked_clients:1"):
            await asyncio.sleep(0.01)
        await c.execute("SET", "gr:block:1", "x")
        (ch,) = await reader
        assert ch.key == "gr:block:1"
        assert await worker.group("gr-block").read("w", block=50) == []  # times out empty
        await g.seek("earliest")
        again = await g.read("w2", count=100)
        assert ch.offset in [x.offset for x in again]  # delivered again from the start
        await g.destroy()
