"""The trigger-function helper: signatures, both payload formats (as in docs/triggers.md), the
partial-failure response, and a real HTTP function built on it; end to end with TRIGGER CREATE
when the server has triggers."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Dict, Iterator, List, Tuple
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

import eddy
from eddy.triggers import (
    TriggerRecord,
    batch_response,
    handle,
    parse_batch,
    sign,
    verify_signature,
)

CLOUDEVENTS = [{
    "specversion": "1.0",
    "id": "6f1c2a:1842",
    "source": "eddy://cache-1/db/0",
    "type": "io.eddy.change.set",
    "subject": "order:17",
    "time": "2024-11-28T11:12:25.123Z",
    "datacontenttype": "application/json",
    "eddyoffset": 1842,
    "data": {
        "offset": 1842, "epoch": "6f1c2a", "ts": 1732792345123, "db": 0,
        "key": "order:17", "type": "string", "event": "set", "change": "insert",
        "args": ["SET", "order:17", "{\"total\": 42}"], "origin": "client", "client": {"id": 7},
        "new": "{\"total\": 42}",
    },
}, {
    "specversion": "1.0", "id": "6f1c2a:1843", "type": "io.eddy.change.del",
    "subject": "order:18", "eddyoffset": 1843,
    "data": {"offset": 1843, "key": "order:18", "event": "del", "change": "remove"},
}]

DYNAMODB = {"Records": [{
    "eventID": "6f1c2a:1843",
    "eventName": "MODIFY",
    "eventVersion": "1.1",
    "eventSource": "eddy:changes",
    "dynamodb": {
        "Keys": {"key": {"S": "user:1"}},
        "NewImage": {"key": {"S": "user:1"}, "name": {"S": "alice"}, "plan": {"S": "pro"}},
        "OldImage": {"key": {"S": "user:1"}, "name": {"S": "alice"}},
        "SequenceNumber": "1843",
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    },
    "eddy": {"offset": 1843, "key": "user:1", "event": "hset", "change": "modify",
             "new": {"name": "alice", "plan": "pro"}, "old": {"name": "alice"}},
}]}


def test_signature() -> None:
    body = b'[{"id": "x"}]'
    header = sign(b"s3cr3t", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify_signature("s3cr3t", body, header)
    assert not verify_signature("s3cr3t", body + b" ", header)
    assert not verify_signature("other", body, header)
    assert not verify_signature("s3cr3t", body, None)


def test_parse_cloudevents_and_dynamodb() -> None:
    a, b = parse_batch(json.dumps(CLOUDEVENTS).encode())
    assert (a.id, a.offset, a.key, a.event, a.change) == (
        "6f1c2a:1842", 1842, "order:17", "set", "insert")
    assert a.new == "{\"total\": 42}" and a.old is None
    assert (b.key, b.event, b.change) == ("order:18", "del", "remove")
    (d,) = parse_batch(json.dumps(DYNAMODB))
    assert (d.id, d.offset, d.key, d.event, d.change) == (
        "6f1c2a:1843", 1843, "user:1", "hset", "modify")
    assert d.new == {"name": "alice", "plan": "pro"} and d.old == {"name": "alice"}
    with pytest.raises(ValueError):
        parse_batch(b'{"not": "a batch"}')
    (raw,) = parse_batch([{"id": "e:5", "eddyoffset": 5, "subject": "/w==",
                           "data": {"offset": 5, "key": "/w==", "base64": True, "event": "del"}}])
    assert raw.key == b"\xff"


def test_batch_response() -> None:
    recs = parse_batch(CLOUDEVENTS)
    assert batch_response([]) == {"batchItemFailures": []}
    assert batch_response([recs[1], "6f1c2a:1842"]) == {"batchItemFailures": [
        {"itemIdentifier": "6f1c2a:1843"}, {"itemIdentifier": "6f1c2a:1842"}]}


def test_handle() -> None:
    body = json.dumps(CLOUDEVENTS).encode()
    ok_headers = {"x-eddy-signature": sign("k", body)}

    def process(rec: TriggerRecord) -> None:
        if rec.key == "order:18":
            raise RuntimeError("poison")

    assert handle(body, {}, secret="k", process=process)[0] == 401
    assert handle(body, {"X-Eddy-Signature": "sha256=00"}, secret="k", process=process)[0] == 401
    assert handle(b"nope", {}, secret=None, process=process)[0] == 400
    status, reply = handle(body, ok_headers, secret="k", process=process)
    assert status == 200
    assert json.loads(reply) == {"batchItemFailures": [{"itemIdentifier": "6f1c2a:1843"}]}
    seen: set = set()
    handle(body, ok_headers, secret="k", process=process, seen=seen)
    assert seen == {"6f1c2a:1842"}
    calls: List[str] = []
    handle(body, ok_headers, secret="k", process=lambda r: calls.append(r.id), seen=seen)
    assert calls == ["6f1c2a:1843"]  # the processed one is not processed again


class Function:
    """A trigger function over HTTP built on ``handle``: records what it processed and fails
    the keys listed in ``poison``."""

    def __init__(self, secret: str, poison: Tuple[str, ...] = ()) -> None:
        self.records: List[TriggerRecord] = []
        self.statuses: List[int] = []
        self.got = threading.Condition()
        fn = self

        def process(rec: TriggerRecord) -> None:
            if rec.key in poison:
                raise RuntimeError("poison")
            fn.records.append(rec)

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, reply = handle(body, dict(self.headers), secret=secret, process=process)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                with fn.got:
                    fn.statuses.append(status)
                    fn.got.notify_all()

            def log_message(self, *a: Any) -> None:
                pass

        self.http = HTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.http.server_port}/"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def post(self, body: bytes, headers: Dict[str, str]) -> Tuple[int, Any]:
        req = Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except HTTPError as e:
            return e.code, json.loads(e.read())


@pytest.fixture()
def function() -> Iterator[Function]:
    fn = Function("s3cr3t", poison=("order:18",))
    yield fn
    fn.http.shutdown()


def test_http_function(function: Function) -> None:
    body = json.dumps(CLOUDEVENTS).encode()
    status, reply = function.post(body, {"X-Eddy-Signature": sign("s3cr3t", body)})
    assert status == 200
    assert reply == {"batchItemFailures": [{"itemIdentifier": "6f1c2a:1843"}]}
    assert [r.key for r in function.records] == ["order:17"]
    assert function.post(body, {"X-Eddy-Signature": sign("wrong", body)})[0] == 401


async def test_end_to_end_with_trigger_create(url: str, function: Function) -> None:
    async with eddy.Client(url) as c:
        await c.execute("TRIGGER", "CREATE", "pytest-fn", function.url, "MATCH", "order:*",
                        "IMAGES", "new", "SECRET", "s3cr3t", "RETRIES", "0",
                        "BISECT", "no", "DEADLETTER", "pytest:dlq")
        await c.execute("SET", "order:17", "paid")
        await c.execute("SET", "order:18", "bad")
        while len(await c.execute("XRANGE", "pytest:dlq", "-", "+")) < 1:
            await asyncio.sleep(0.05)
        assert [(r.key, r.new) for r in function.records] == [("order:17", "paid")]
        (entry,) = await c.execute("XRANGE", "pytest:dlq", "-", "+")
        assert "order:18" in json.dumps(entry)
        assert 200 in function.statuses
        await c.execute("TRIGGER", "DROP", "pytest-fn")
