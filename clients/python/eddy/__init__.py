"""Eddy's asyncio client over WebSocket: commands, pub/sub, the change feed with automatic
resume, consumer groups, and helpers for trigger functions (``eddy.triggers``)."""

from .client import Client, Feed, Group, Reconnect, Subscription, filter_args
from .connection import Connection
from .errors import CannotResumeError, ConnectionLostError, EddyError, ResponseError
from .types import Change, Message, PendingEntry, Snapshot, SnapshotEntry

__all__ = [
    "CannotResumeError",
    "Change",
    "Client",
    "Connection",
    "ConnectionLostError",
    "EddyError",
    "Feed",
    "Group",
    "Message",
    "PendingEntry",
    "Reconnect",
    "ResponseError",
    "Snapshot",
    "SnapshotEntry",
    "Subscription",
    "connect",
    "filter_args",
]


async def connect(url: str = "ws://127.0.0.1:8379/ws", password: "str | None" = None) -> Client:
    """Opens a client: ``c = await eddy.connect("ws://127.0.0.1:8379/ws")``."""
    return await Client(url, password).connect()
