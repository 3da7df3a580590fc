"""The typed values the client returns: change events, snapshots, pub/sub messages, pending entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

def to_bytes(v: Any) -> Any:
    """``v`` with every string (nested in lists and maps too) encoded as UTF-8 bytes."""
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, list):
        return [to_bytes(x) for x in v]
    if isinstance(v, dict):
        return {to_bytes(k): to_bytes(x) for k, x in v.items()}
    return v


#: A key or value as the server sends it: ``str`` when valid UTF-8, ``bytes`` otherwise.
Bytesish = Union[str, bytes]


@dataclass(frozen=True)
class Change:
    """One record of the change log (docs/changes.md, "The event").

    ``old`` and ``new`` are ``None`` when not known (no images asked for, or not recorded); a
    missing image never means an empty value. ``key`` is empty for keyspace-wide events
    (``flushdb``, ``flushall``, ``swapdb``).
    """

    offset: int
    ts: int
    db: int
    key: Bytesish
    type: str
    event: str
    change: str
    origin: str
    args: List[Bytesish]
    old: Any = None
    new: Any = None
    tx: int = 0
    tx_n: int = 0
    client: int = 0
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_event(cls, ev: Any, as_bytes: bool = False) -> "Change":
        """Builds a Change from an event as the server sends it: a map (RESP3) or a flat
        field/value list (RESP2 shape, after ``HELLO 2``). ``as_bytes``: key, args and images
        as bytes even when they are valid UTF-8."""
        if isinstance(ev, list):
            ev = {ev[i]: ev[i + 1] for i in range(0, len(ev) - 1, 2)}
        if not isinstance(ev, dict):
            raise TypeError(f"not a change event: {ev!r}")
        b = to_bytes if as_bytes else (lambda v: v)
        return cls(
            offset=int(ev["offset"]),
            ts=int(ev.get("ts", 0)),
            db=int(ev.get("db", 0)),
            key=b(ev.get("key", "")),
            type=str(ev.get("type", "")),
            event=str(ev.get("event", "")),
            change=str(ev.get("change", "")),
            origin=str(ev.get("origin", "")),
            args=b(list(ev.get("args") or [])),
            old=b(ev.get("old")),
            new=b(ev.get("new")),
            tx=int(ev.get("tx", 0)),
            tx_n=int(ev.get("tx-n", 0)),
            client=int(ev.get("client", 0)) if not isinstance(ev.get("client"), dict) else 0,
            raw=ev,
        )


@dataclass(frozen=True)
class SnapshotEntry:
    """One key of a ``CHANGES SNAPSHOT``: strings as their value, other types as their DUMP
    payload (accepted by RESTORE); ``pttl`` is -1 without a TTL."""

    db: int
    key: Bytesish
    type: str
    value: Bytesish
    pttl: int


@dataclass(frozen=True)
class Snapshot:
    """The state as of ``offset`` (the last offset it covers) in the log of ``epoch``."""

    offset: int
    epoch: str
    entries: List[SnapshotEntry]


@dataclass(frozen=True)
class Message:
    """A pub/sub message: ``kind`` is ``message``, ``pmessage`` or ``smessage``; ``pattern`` is
    set for ``pmessage``."""

    kind: str
    channel: Bytesish
    data: Bytesish
    pattern: Optional[Bytesish] = None


@dataclass(frozen=True)
class PendingEntry:
    """An entry of a consumer group's pending list (``CHANGES PENDING``)."""

    offset: int
    consumer: str
    idle_ms: int
    deliveries: int
