"""Helpers for writing a trigger function (the endpoint a ``TRIGGER`` posts batches to).

A function verifies the signature, parses the batch, processes each record and reports the ones
it could not process::

    from eddy.triggers import handle

    def process(record):                  # raise to fail this record (it is retried)
        print(record.key, record.event, record.new)

    status, body = handle(request_body, request_headers, secret=b"s3cr3t", process=process)
    # reply with HTTP `status` and the JSON `body`

Both payload formats are understood: CloudEvents batches (a JSON array) and DynamoDB Streams
records (``{"Records": [...]}``). Delivery is at least once: de-duplicate by ``record.id``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple, Union

SIGNATURE_HEADER = "X-Eddy-Signature"


def sign(secret: Union[str, bytes], body: bytes) -> str:
    """The ``X-Eddy-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: Union[str, bytes], body: bytes, header: Optional[str]) -> bool:
    """Whether ``header`` (the request's ``X-Eddy-Signature``) signs ``body`` with ``secret``;
    compared in constant time."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())


@dataclass(frozen=True)
class TriggerRecord:
    """One record of a batch, whatever its format.

    ``id`` is the identifier to report in ``batchItemFailures`` and to de-duplicate by
    (``<epoch>:<offset>``); ``data`` is the change event (docs/changes.md) with its images
    (``new``/``old``: a string as text, a hash as an object, other types as
    ``{"$dump": base64}``). ``key`` is ``bytes`` when the key is not UTF-8 (the event then
    carries it in base64 with ``"base64": true``).
    """

    id: str
    offset: int
    key: Any
    event: str
    change: str
    data: Dict[str, Any]
    raw: Dict[str, Any] = field(repr=False)

    @property
    def new(self) -> Any:
        return self.data.get("new")

    @property
    def old(self) -> Any:
        return self.data.get("old")


def parse_batch(body: Union[bytes, str, Any]) -> List[TriggerRecord]:
    """The records of a request body (bytes, text, or already-decoded JSON)."""
    doc = json.loads(body) if isinstance(body, (bytes, bytearray, str)) else body
    if isinstance(doc, list):
        return [_cloudevent(e) for e in doc]
    if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
        return [_dynamodb(r) for r in doc["Records"]]
    raise ValueError("not a trigger batch: expected a CloudEvents array or {\"Records\": [...]}")


def _key(data: Mapping[str, Any], fallback: Any) -> Any:
    key = data.get("key", fallback)
    if data.get("base64") is True and isinstance(key, str):
        return base64.b64decode(key)
    return key


def _cloudevent(e: Mapping[str, Any]) -> TriggerRecord:
    data = dict(e.get("data") or {})
    offset = int(e.get("eddyoffset", data.get("offset", 0)))
    return TriggerRecord(
        id=str(e["id"]),
        offset=offset,
        key=_key(data, e.get("subject")),
        event=str(data.get("event", str(e.get("type", "")).rsplit(".", 1)[-1])),
        change=str(data.get("change", "")),
        data=data,
        raw=dict(e),
    )


_CHANGE_OF = {"INSERT": "insert", "MODIFY": "modify", "REMOVE": "remove"}


def _dynamodb(r: Mapping[str, Any]) -> TriggerRecord:
    ddb = r.get("dynamodb") or {}
    data = dict(r.get("eddy") or {})
    key = _key(data, ((ddb.get("Keys") or {}).get("key") or {}).get("S"))
    return TriggerRecord(
        id=str(r["eventID"]),
        offset=int(data.get("offset", ddb.get("SequenceNumber", 0))),
        key=key,
        event=str(data.get("event", "")),
        change=str(data.get("change", _CHANGE_OF.get(str(r.get("eventName")), ""))),
        data=data,
        raw=dict(r),
    )


def batch_response(failures: Iterable[Union[str, TriggerRecord]]) -> Dict[str, Any]:
    """Lambda's partial batch response: the records to retry (by record or identifier).
    An empty list means the whole batch succeeded."""
    ids = [f.id if isinstance(f, TriggerRecord) else str(f) for f in failures]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def handle(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: Optional[Union[str, bytes]],
    process: Callable[[TriggerRecord], Any],
    seen: Optional[Set[str]] = None,
) -> Tuple[int, bytes]:
    """Verifies, parses and processes one request; returns the HTTP status and JSON body.

    * a bad or missing signature (when ``secret`` is given): ``401`` (a 4xx is not retried);
    * a body that is not a batch: ``400``;
    * otherwise ``200`` with ``batchItemFailures`` naming the records whose ``process`` raised.

    ``seen`` (a set of record ids) skips records already processed and records the new ones.
    """
    if secret is not None and not verify_signature(
        secret, body, _header(headers, SIGNATURE_HEADER)
    ):
        return 401, b'{"error": "bad signature"}'
    try:
        records = parse_batch(body)
    except (ValueError, KeyError, TypeError) as e:
        return 400, json.dumps({"error": str(e)}).encode()
    failures: List[TriggerRecord] = []
    for rec in records:
        if seen is not None and rec.id in seen:
            continue
        try:
            process(rec)
        except Exception:
            failures.append(rec)
            continue
        if seen is not None:
            seen.add(rec.id)
    return 200, json.dumps(batch_response(failures)).encode()
