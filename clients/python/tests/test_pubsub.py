"""Channels and patterns: messages arrive as typed Message values, and a subscription whose
socket drops subscribes again by itself."""

from __future__ import annotations

import asyncio

import eddy


async def wait_subscribers(c: eddy.Client, channel: str, n: int) -> None:
    while (await c.execute("PUBSUB", "NUMSUB", channel))[1] != n:
        await asyncio.sleep(0.01)


async def test_channel_and_pattern(url: str) -> None:
    async with eddy.Client(url) as c:
        sub = await c.subscribe("ps:news")
        await sub.psubscribe("ps:order:*")
        assert await c.publish("ps:news", "hello") == 1
        assert await c.publish("ps:order:17", b"paid\xff") == 1
        m1 = await sub.get_message(timeout=10)
        m2 = await sub.get_message(timeout=10)
        assert m1 == eddy.Message("message", "ps:news", "hello")
        assert m2 == eddy.Message("pmessage", "ps:order:17", b"paid\xff", pattern="ps:order:*")
        await sub.unsubscribe("ps:news")
        assert await c.publish("ps:news", "unheard") == 0
        await sub.close()


async def test_async_iteration(url: str) -> None:
    async with eddy.Client(url) as c:
        async with await c.subscribe("ps:iter") as sub:
            for i in range(3):
                await c.publish("ps:iter", str(i))
            got = []
            async for m in sub:
                got.append(m.data)
                if len(got) == 3:
                    break
            assert got == ["0", "1", "2"]


async def test_resubscribes_after_a_dropped_socket(url: str) -> None:
    async with eddy.Client(url) as c:
        sub = await c.subscribe("ps:drop")
        assert sub._conn is not None
        old = sub._conn
        old.abort()
        while sub.reconnects == 0:
            await asyncio.sleep(0.01)
        await wait_subscribers(c, "ps:drop", 1)
        assert await c.publish("ps:drop", "again") == 1
        m = await sub.get_message(timeout=10)
        assert m is not None and m.data == "again"
        await sub.close()
