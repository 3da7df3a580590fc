"""Commands over the WebSocket door: replies, binary safety, errors, pipelining, transactions,
auth and reconnecting the command connection."""

from __future__ import annotations

import asyncio

import pytest

import eddy
from eddy_server import EddyServer


async def test_set_get_and_types(url: str) -> None:
    async with eddy.Client(url) as c:
        assert await c.execute("SET", "cmd:k", "v") == "OK"
        assert await c.get("cmd:k") == "v"
        assert await c.get("cmd:missing") is None
        assert await c.execute("INCRBY", "cmd:n", 5) == 5
        assert await c.execute("HSET", "cmd:h", "a", "1", "b", "2") == 2
        assert await c.execute("HGETALL", "cmd:h") == {"a": "1", "b": "2"}
        assert await c.execute("RPUSH", "cmd:l", "x", "y") == 2
        assert await c.execute("LRANGE", "cmd:l", 0, -1) == ["x", "y"]


async def test_binary_safe(url: str) -> None:
    key, value = b"cmd:bin\x00\xff", bytes(range(256))
    async with eddy.Client(url) as c:
        assert await c.execute("SET", key, value) == "OK"
        assert await c.execute("GET", key) == value
        assert await c.execute("STRLEN", key) == 256
        assert key in await c.execute("KEYS", "cmd:bin*")
    async with eddy.Client(url, decode_responses=False) as c:
        assert await c.execute("SET", "cmd:text", "héllo") == b"OK"
        assert await c.execute("GET", "cmd:text") == "héllo".encode()


async def test_errors(url: str) -> None:
    async with eddy.Client(url) as c:
        await c.execute("SET", "cmd:str", "x")
        with pytest.raises(eddy.ResponseError) as e:
            await c.execute("LPUSH", "cmd:str", "y")
        assert e.value.code == "WRONGTYPE"
        with pytest.raises(eddy.ResponseError, match="unknown command"):
            await c.execute("NOPE")
        assert await c.execute("PING") == "PONG"  # the connection carries on


async def test_pipelined_calls(url: str) -> None:
    async with eddy.Client(url) as c:
        replies = await asyncio.gather(*(c.execute("INCR", "cmd:pipe") for _ in range(200)))
        assert sorted(replies) == list(range(1, 201))


async def test_transaction(url: str) -> None:
    async with eddy.Client(url) as c:
        await c.execute("SET", "cmd:tx", "x")
        assert await c.execute("MULTI") == "OK"
        assert await c.execute("INCR", "cmd:txn") == "QUEUED"
        assert await c.execute("LPUSH", "cmd:tx", "y") == "QUEUED"
        out = await c.execute("EXEC")
        assert out[0] == 1
        assert isinstance(out[1], eddy.ResponseError) and out[1].code == "WRONGTYPE"


async def test_reconnects_after_a_dropped_socket(url: str) -> None:
    async with eddy.Client(url) as c:
        first = await c.execute("CLIENT", "ID")
        assert c._conn is not None
        c._conn.abort()
        await c._conn.wait_closed()
        assert await c.execute("PING") == "PONG"
        assert await c.execute("CLIENT", "ID") != first


async def test_password() -> None:
    srv = EddyServer("--requirepass", "s3cret")
    try:
        async with eddy.Client(srv.ws_url) as c:
            with pytest.raises(eddy.ResponseError) as e:
                await c.execute("GET", "k")
            assert e.value.code == "NOAUTH"
        async with eddy.Client(srv.ws_url, password="s3cret") as c:
            assert await c.execute("SET", "k", "v") == "OK"
        with pytest.raises(eddy.ResponseError, match="WRONGPASS|invalid"):
            await eddy.Client(srv.ws_url, password="wrong").connect()
    finally:
        srv.stop()
