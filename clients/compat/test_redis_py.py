"""Unchanged redis-py code against Eddy, over RESP2 and RESP3: strings, lists with blocking
pops, pub/sub, streams with consumer groups, a pipeline, a transaction (sync and asyncio)."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest
import redis
import redis.asyncio

from eddy_server import EddyServer


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(request: pytest.FixtureRequest, server: EddyServer) -> Iterator[redis.Redis]:
    client = redis.Redis(port=server.port, protocol=request.param, decode_responses=True,
                         socket_timeout=10)
    client.flushdb()
    yield client
    client.close()


def test_strings(r: redis.Redis) -> None:
    assert r.set("s:greeting", "hello", ex=60) is True
    assert r.get("s:greeting") == "hello"
    assert 0 < r.ttl("s:greeting") <= 60
    assert r.set("s:greeting", "again", nx=True) is None
    assert r.incr("s:n") == 1 and r.incrby("s:n", 41) == 42
    assert r.incrbyfloat("s:f", 1.5) == 1.5
    assert r.mset({"s:a": "1", "s:b": "2"}) is True
    assert r.mget("s:a", "s:b", "s:none") == ["1", "2", None]
    assert r.append("s:a", "0") == 2 and r.getrange("s:a", 0, 0) == "1"
    assert r.getdel("s:a") == "10" and r.exists("s:a") == 0
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.lpush("s:greeting", "x")


def test_lists_and_blocking_pops(r: redis.Redis, server: EddyServer) -> None:
    assert r.rpush("l:q", "a", "b", "c") == 3
    assert r.lrange("l:q", 0, -1) == ["a", "b", "c"]
    assert r.lpop("l:q") == "a" and r.rpop("l:q") == "c"
    assert list(r.blpop(["l:q"], timeout=1)) == ["l:q", "b"]
    assert r.blpop(["l:empty"], timeout=0.1) is None  # times out
    other = redis.Redis(port=server.port, protocol=r.get_connection_kwargs()["protocol"])
    got = {}

    def worker() -> None:
        got["v"] = r.brpop(["l:jobs"], timeout=10)

    t = threading.Thread(target=worker)
    t.start()
    while int(other.info("clients")["blocked_clients"]) < 1:
        time.sleep(0.01)
    other.lpush("l:jobs", "job-1")
    t.join(10)
    assert tuple(got["v"]) == ("l:jobs", "job-1")
    assert r.lmove("l:src", "l:dst") is None
    r.rpush("l:src", "x")
    assert r.blmove("l:src", "l:dst", 1, "LEFT", "RIGHT") == "x"
    other.close()


def test_pubsub(r: redis.Redis) -> None:
    p = r.pubsub()
    p.subscribe("ps:news")
    p.psubscribe("ps:order:*")
    kinds = [p.get_message(timeout=5)["type"] for _ in range(2)]
    assert sorted(kinds) == ["psubscribe", "subscribe"]
    assert r.publish("ps:news", "hello") == 1
    assert r.publish("ps:order:17", "paid") == 1
    m1 = p.get_message(timeout=5)
    m2 = p.get_message(timeout=5)
    assert (m1["type"], m1["channel"], m1["data"]) == ("message", "ps:news", "hello")
    assert (m2["type"], m2["pattern"], m2["channel"], m2["data"]) == (
        "pmessage", "ps:order:*", "ps:order:17", "paid")
    assert r.pubsub_numsub("ps:news") == [("ps:news", 1)]
    p.unsubscribe("ps:news")
    assert p.get_message(timeout=5)["type"] == "unsubscribe"
    assert r.publish("ps:news", "unheard") == 0
    p.close()


def test_streams_with_consumer_groups(r: redis.Redis) -> None:
    a = r.xadd("st:orders", {"id": "1", "total": "42"})
    b = r.xadd("st:orders", {"id": "2", "total": "7"})
    assert r.xlen("st:orders") == 2
    assert [e[0] for e in r.xrange("st:orders")] == [a, b]
    r.xgroup_create("st:orders", "billing", id="0")
    got = r.xreadgroup("billing", "w1", {"st:orders": ">"}, count=10)
    if isinstance(got, dict):  # RESP3 shape
        entries = got["st:orders"][0]
    else:
        ((_, entries),) = got
    assert [e[0] for e in entries] == [a, b]
    assert entries[0][1] == {"id": "1", "total": "42"}
    pending = r.xpending("st:orders", "billing")
    assert pending["pending"] == 2
    assert r.xack("st:orders", "billing", a) == 1
    assert r.xpending("st:orders", "billing")["pending"] == 1
    assert r.xack("st:orders", "billing", a) == 0
    again = r.xreadgroup("billing", "w1", {"st:orders": "0"})  # own pending history
    flat = again["st:orders"][0] if isinstance(again, dict) else again[0][1]
    assert [e[0] for e in flat] == [b]


def test_pipeline(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=False)
    pipe.set("p:a", "1").incr("p:a").get("p:a").rpush("p:l", "x", "y").lrange("p:l", 0, -1)
    assert pipe.execute() == [True, 2, "2", 2, ["x", "y"]]
    pipe = r.pipeline(transaction=False)
    pipe.set("p:s", "x").lpush("p:s", "y").get("p:s")
    out = pipe.execute(raise_on_error=False)
    assert out[0] is True and isinstance(out[1], redis.ResponseError) and out[2] == "x"


def test_transaction(r: redis.Redis, server: EddyServer) -> None:
    with r.pipeline() as pipe:  # MULTI/EXEC
        pipe.set("t:a", "1").incr("t:a").hset("t:h", mapping={"f": "v"})
        assert pipe.execute() == [True, 2, 1]
    # WATCH: a concurrent change aborts the transaction, and redis-py's retry loop succeeds.
    other = redis.Redis(port=server.port)
    attempts = []

    def bump(pipe: redis.client.Pipeline) -> None:
        n = int(pipe.get("t:a"))
        if not attempts:
            other.set("t:a", "100")  # breaks the WATCH once
        attempts.append(n)
        pipe.multi()
        pipe.set("t:a", n + 1)

    r.transaction(bump, "t:a")
    assert attempts == [2, 100] and r.get("t:a") == "101"
    other.close()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
async def test_asyncio_client(server: EddyServer, protocol: int) -> None:
    r = redis.asyncio.Redis(port=server.port, protocol=protocol, decode_responses=True)
    await r.flushdb()
    await r.set("as:k", "v")
    async with r.pipeline(transaction=True) as pipe:
        pipe.get("as:k").incr("as:n")
        assert await pipe.execute() == ["v", 1]
    p = r.pubsub()
    await p.subscribe("as:ch")
    assert (await p.get_message(timeout=5))["type"] == "subscribe"
    await r.publish("as:ch", "hi")
    msg = None
    while msg is None:
        msg = await p.get_message(ignore_subscribe_messages=True, timeout=5)
    assert msg["data"] == "hi"
    await p.aclose()
    await r.aclose()
