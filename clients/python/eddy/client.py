"""The asyncio client: commands, pub/sub, the change feed (with automatic resume), consumer
groups. Every part speaks Eddy's WebSocket door (``ws://host:8379/ws``) in MessagePack frames."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, AsyncIterator, Awaitable, Deque, Dict, Generic, List, Optional, Sequence, Tuple, TypeVar, Union

from .connection import Arg, Connection, PushHandler
from .errors import CannotResumeError, ConnectionLostError, EddyError, ResponseError
from .types import Change, Message, PendingEntry, Snapshot, SnapshotEntry, to_bytes

DEFAULT_URL = "ws://127.0.0.1:8379/ws"

#: A start position: ``"earliest"``, ``"latest"``, an offset, ``"(<offset>"`` (after it) or
#: ``"@<unix-ms>"``.
Start = Union[str, int]

_Filters = List[Arg]


def filter_args(
    match: Optional[str] = None,
    events: Optional[Sequence[str]] = None,
    types: Optional[Sequence[str]] = None,
    db: Optional[int] = None,
) -> _Filters:
    """The ``MATCH``/``EVENTS``/``TYPE``/``DB`` arguments of a change-feed command."""
    out: _Filters = []
    if match is not None:
        out += ["MATCH", match]
    if events:
        out += ["EVENTS", ",".join(events)]
    if types:
        out += ["TYPE", ",".join(types)]
    if db is not None:
        out += ["DB", db]
    return out


def _images_args(images: Optional[str]) -> _Filters:
    return ["IMAGES", images] if images else []


class Reconnect:
    """How a subscription or feed reconnects: delays grow from ``first`` to ``cap`` seconds;
    ``attempts`` (None = forever) bounds the tries per outage."""

    def __init__(self, first: float = 0.05, cap: float = 2.0, attempts: Optional[int] = None):
        self.first, self.cap, self.attempts = first, cap, attempts

    def delays(self) -> "AsyncIterator[int]":
        return self._gen()

    async def _gen(self) -> AsyncIterator[int]:
        d, n = self.first, 0
        while self.attempts is None or n < self.attempts:
            yield n
            n += 1
            await asyncio.sleep(d)
            d = min(d * 2, self.cap)


class Client:
    """A connection to Eddy over WebSocket.

    ``execute`` runs any command on one shared connection (reopened on the next call if it
    dropped); concurrent calls are pipelined. Subscriptions and feeds each get a connection of
    their own, which reconnects by itself.

    Replies have their RESP3 types: strings are ``str`` when valid UTF-8 and ``bytes``
    otherwise (``decode_responses=False``: always ``bytes``), maps are dicts, errors inside an
    EXEC reply are ResponseError instances.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        password: Optional[str] = None,
        *,
        username: Optional[str] = None,
        decode_responses: bool = True,
        connect_timeout: float = 10.0,
        reconnect: Optional[Reconnect] = None,
    ) -> None:
        self.url = url
        self.password = password
        self.username = username
        self.decode_responses = decode_responses
        self.connect_timeout = connect_timeout
        self.reconnect = reconnect or Reconnect()
        self._conn: Optional[Connection] = None
        self._lock: Optional[asyncio.Lock] = None  # made in the loop that first uses it

    async def __aenter__(self) -> "Client":
        await self.connect()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def open_connection(self, on_push: Optional[PushHandler] = None) -> Connection:
        """A new connection with this client's URL and credentials."""
        return await Connection.open(
            self.url,
            self.password,
            username=self.username,
            on_push=on_push,
            timeout=self.connect_timeout,
        )

    async def connect(self) -> "Client":
        await self._command_conn()
        return self

    async def _command_conn(self) -> Connection:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = await self.open_connection()
            return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def execute(self, *args: Arg) -> Any:
        """Runs a command: ``await c.execute("SET", "k", b"\\x00\\xff")``."""
        conn = await self._command_conn()
        reply = await conn.call(*args)
        return reply if self.decode_responses else to_bytes(reply)

    # -- convenience ---------------------------------------------------------------------------

    async def get(self, key: Arg) -> Any:
        return await self.execute("GET", key)

    async def set(self, key: Arg, value: Arg, *args: Arg) -> Any:
        return await self.execute("SET", key, value, *args)

    async def publish(self, channel: Arg, message: Arg) -> int:
        return int(await self.execute("PUBLISH", channel, message))

    # -- pub/sub -------------------------------------------------------------------------------

    async def subscribe(self, *channels: str) -> "Subscription":
        """A subscription to channels, on a connection of its own: ``async for m in sub``."""
        sub = Subscription(self)
        if channels:
            await sub.subscribe(*channels)
        return sub

    async def psubscribe(self, *patterns: str) -> "Subscription":
        sub = Subscription(self)
        if patterns:
            await sub.psubscribe(*patterns)
        return sub

    # -- the change feed -----------------------------------------------------------------------

    async def changes_info(self) -> Dict[str, Any]:
        """``CHANGES INFO``: ``epoch``, ``first-offset``, ``last-offset``, ``memory-bytes``."""
        info: Dict[str, Any] = await (await self._command_conn()).call("CHANGES", "INFO")
        return info

    async def follow(
        self,
        start: Start = "latest",
        *,
        match: Optional[str] = None,
        events: Optional[Sequence[str]] = None,
        types: Optional[Sequence[str]] = None,
        db: Optional[int] = None,
        images: Optional[str] = None,
        epoch: Optional[str] = None,
        resume: bool = True,
        buffer: int = 1024,
    ) -> "Feed":
        """Follows the change feed from ``start``: an async iterator of :class:`Change`.

        After a disconnect the feed reconnects and continues after the last event received, in
        the same log (``EPOCH``): nothing is lost or repeated. When that is impossible the
        iterator raises :class:`CannotResumeError`. ``resume=False`` raises
        :class:`ConnectionLostError` on a disconnect instead.

        At most ``buffer`` events wait in the client for the application; past that the feed
        stops reading its socket and the server pauses the subscription until it is read again
        (nothing is lost: it catches up from the log).
        """
        filters = filter_args(match, events, types, db)
        feed = Feed(self, str(start), filters, images, epoch, resume, buffer)
        await feed.start()
        return feed

    async def snapshot(
        self,
        *,
        match: Optional[str] = None,
        types: Optional[Sequence[str]] = None,
        db: Optional[int] = None,
    ) -> Snapshot:
        """``CHANGES SNAPSHOT``: every matching key's value as of one offset."""
        conn = await self._command_conn()
        info = await conn.call("CHANGES", "INFO")
        n, rows = await conn.call("CHANGES", "SNAPSHOT", *filter_args(match, None, types, db))
        entries = [SnapshotEntry(int(d), k, t, v, int(p)) for d, k, t, v, p in rows]
        return Snapshot(int(n), str(info["epoch"]), entries)

    async def snapshot_and_follow(
        self,
        *,
        match: Optional[str] = None,
        events: Optional[Sequence[str]] = None,
        types: Optional[Sequence[str]] = None,
        db: Optional[int] = None,
        images: Optional[str] = None,
    ) -> Tuple[Snapshot, "Feed"]:
        """The current values, then every change after them (no gap, no duplicate)."""
        snap = await self.snapshot(match=match, types=types, db=db)
        feed = await self.follow(
            f"({snap.offset}",
            match=match,
            events=events,
            types=types,
            db=db,
            images=images,
            epoch=snap.epoch,
        )
        return snap, feed

    def group(self, name: str) -> "Group":
        """A change-feed consumer group (``CHANGES GROUP ...``), run on the shared connection."""
        return Group(self, name)


T = TypeVar("T")


class _Stream(Generic[T]):
    """What subscriptions and feeds share: a connection of their own that is opened again after
    a drop (:meth:`_reopen`), and a buffer of items read by iterating (or :meth:`_next`). An
    error that ends the stream is raised by the reader, and again on every later read.

    With a ``limit``, a full buffer stops the connection's reading until the application takes
    items: the server then holds back (a feed pauses and catches up from the log later), so a
    slow consumer costs bounded memory on both sides."""

    def __init__(self, client: Client, limit: Optional[int] = None) -> None:
        self._client = client
        self._items: Deque[T] = deque()
        self._limit = limit
        self._end: Optional[BaseException] = None
        self._ended = False
        self._changed = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._conn: Optional[Connection] = None
        self._closing = False
        self._task: Optional[asyncio.Task[None]] = None
        #: How many times the stream has reconnected.
        self.reconnects = 0

    def _on_push(self, push: List[Any]) -> Optional[Awaitable[Any]]:
        raise NotImplementedError

    def _put(self, item: T) -> Optional[Awaitable[Any]]:
        """Buffers an item; when that fills the buffer, returns what the connection's reader
        awaits before reading on."""
        self._items.append(item)
        self._changed.set()
        if self._limit is not None and len(self._items) >= self._limit:
            self._space.clear()
            return self._space.wait()
        return None

    def _finish(self, error: Optional[BaseException] = None) -> None:
        """Ends the stream (with an error, raised to the reader after the buffered items)."""
        if not self._ended:
            self._end, self._ended = error, True
        self._space.set()
        self._changed.set()

    async def _reopen(self) -> None:
        """Opens a new connection (``self._conn``) and restores the subscriptions on it."""
        raise NotImplementedError

    def _resumable(self) -> bool:
        return True

    def _watch(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._keep_connected())

    async def _keep_connected(self) -> None:
        try:
            while self._conn is not None:
                await self._conn.wait_closed()
                if self._closing:
                    return
                if not self._resumable():
                    raise ConnectionLostError("the connection closed")
                async for _ in self._client.reconnect.delays():
                    try:
                        await self._reopen()
                        self.reconnects += 1
                        break
                    except ConnectionLostError:
                        continue
                else:
                    raise ConnectionLostError("could not reconnect")
        except EddyError as e:
            self._finish(e)

    async def _next(self, timeout: Optional[float]) -> Optional[T]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if self._items:
                item = self._items.popleft()
                if self._limit is None or len(self._items) < self._limit:
                    self._space.set()
                return item
            if self._end is not None:
                raise self._end  # the end stays the end
            if self._ended:
                return None
            self._changed.clear()
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                return None

    def __aiter__(self) -> "_Stream[T]":
        return self

    async def __anext__(self) -> T:
        item = await self._next(None)
        if item is None:
            raise StopAsyncIteration
        return item

    async def close(self) -> None:
        self._closing = True
        self._finish()
        self._items.clear()
        if self._task is not None:
            self._task.cancel()
        if self._conn is not None:
            await self._conn.close()

    async def __aenter__(self) -> "_Stream[T]":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def _abort_connection(self) -> None:
        """Drops the socket as a network failure would (for tests)."""
        if self._conn is not None:
            self._conn.abort()


class Subscription(_Stream[Message]):
    """Pub/sub channels and patterns on a connection of their own. Iterate for messages.

    If the connection drops, it reconnects and subscribes again (messages published meanwhile
    are lost: pub/sub is at-most-once; use the change feed for resumable delivery).
    """

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self._channels: List[str] = []
        self._patterns: List[str] = []

    def _on_push(self, push: List[Any]) -> Optional[Awaitable[Any]]:
        kind = push[0] if push else None
        if kind in ("message", "smessage") and len(push) >= 3:
            return self._put(Message(kind, push[1], push[2]))
        if kind == "pmessage" and len(push) >= 4:
            return self._put(Message(kind, push[2], push[3], pattern=push[1]))
        return None

    async def _reopen(self) -> None:
        self._conn = await self._client.open_connection(self._on_push)
        if self._channels:
            await self._conn.call("SUBSCRIBE", *self._channels)
        if self._patterns:
            await self._conn.call("PSUBSCRIBE", *self._patterns)

    async def _call(self, *args: Arg) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = await self._client.open_connection(self._on_push)
            self._watch()
        await self._conn.call(*args)

    async def subscribe(self, *channels: str) -> None:
        await self._call("SUBSCRIBE", *channels)
        self._channels += [c for c in channels if c not in self._channels]

    async def psubscribe(self, *patterns: str) -> None:
        await self._call("PSUBSCRIBE", *patterns)
        self._patterns += [p for p in patterns if p not in self._patterns]

    async def unsubscribe(self, *channels: str) -> None:
        """Leaves the channels (all of them without arguments)."""
        await self._call("UNSUBSCRIBE", *channels)
        self._channels = [c for c in self._channels if channels and c not in channels]

    async def punsubscribe(self, *patterns: str) -> None:
        await self._call("PUNSUBSCRIBE", *patterns)
        self._patterns = [p for p in self._patterns if patterns and p not in patterns]

    async def get_message(self, timeout: Optional[float] = None) -> Optional[Message]:
        """The next message; None after ``timeout`` seconds or once closed. Raises the error
        that ended the subscription (it could not reconnect), again on every later call."""
        return await self._next(timeout)


class Feed(_Stream[Change]):
    """A change-feed subscription (``CHANGES SUBSCRIBE``) that survives disconnects.

    It remembers the log's epoch and the next offset due; after a disconnect it subscribes again
    from there with ``EPOCH``, so the events it yields are gapless and never repeated.
    """

    def __init__(
        self,
        client: Client,
        start: str,
        filters: _Filters,
        images: Optional[str],
        epoch: Optional[str],
        resume: bool,
        buffer: int,
    ) -> None:
        super().__init__(client, limit=buffer)
        self._start = start
        self._filters = filters + _images_args(images)
        self._resume = resume
        #: The epoch of the log followed (from ``CHANGES INFO`` unless given).
        self.epoch: Optional[str] = epoch
        #: The offset of the last event received (None before the first).
        self.last_offset: Optional[int] = None
        #: The first offset not yet received (known once subscribed).
        self.next_offset: Optional[int] = None

    def _resumable(self) -> bool:
        return self._resume

    def _on_push(self, push: List[Any]) -> Optional[Awaitable[Any]]:
        if push and push[0] == "changes":
            ch = Change.from_event(push[1], not self._client.decode_responses)
            if self.next_offset is not None and ch.offset < self.next_offset:
                return None  # already delivered before a reconnect
            self.last_offset = ch.offset
            self.next_offset = ch.offset + 1
            return self._put(ch)
        if push and push[0] == "changes-error":
            self._closing = True
            self._finish(CannotResumeError(str(push[1])))
        return None

    async def _reopen(self) -> None:
        conn = await self._client.open_connection(self._on_push)
        try:
            if self.epoch is None:
                info = await conn.call("CHANGES", "INFO")
                self.epoch = str(info["epoch"])
            start = self._start if self.next_offset is None else str(self.next_offset)
            try:
                reply = await conn.call(
                    "CHANGES", "SUBSCRIBE", start, *self._filters, "EPOCH", self.epoch
                )
            except ResponseError as e:
                if CannotResumeError.matches(e.message):
                    raise CannotResumeError(e.message) from None
                raise
        except BaseException:
            await conn.close()
            raise
        if self.next_offset is None:
            self.next_offset = int(reply[2])
        self._conn = conn

    async def start(self) -> None:
        """Subscribes (raising at once if the start position is refused)."""
        await self._reopen()
        self._watch()

    async def get(self, timeout: Optional[float] = None) -> Optional[Change]:
        """The next change; None after ``timeout`` seconds or once closed. Raises the error
        that ended the feed (e.g. CannotResumeError), again on every later call."""
        return await self._next(timeout)


def _changes(reply: Any, as_bytes: bool) -> List[Change]:
    return [Change.from_event(ev, as_bytes) for ev in reply or []]


class Group:
    """A consumer group of the change feed: at-least-once delivery with acks (docs/changes.md).

    Its commands run on the client's shared connection, so a ``read`` with ``block`` holds back
    the client's other commands until it returns: give blocking workers a Client of their own.
    """

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name

    async def _call(self, *args: Arg) -> Any:
        """Runs a command on the shared connection, replies decoded (events parse by name)."""
        conn = await self.client._command_conn()
        return await conn.call(*args)

    async def create(
        self,
        start: Start = "latest",
        *,
        match: Optional[str] = None,
        events: Optional[Sequence[str]] = None,
        types: Optional[Sequence[str]] = None,
        db: Optional[int] = None,
        max_deliveries: Optional[int] = None,
        dead_letter: Optional[str] = None,
        exist_ok: bool = False,
    ) -> bool:
        """Creates the group; False if it existed and ``exist_ok``."""
        args: List[Arg] = ["CHANGES", "GROUP", "CREATE", self.name, str(start)]
        args += filter_args(match, events, types, db)
        if max_deliveries is not None:
            args += ["MAXDELIVERIES", max_deliveries]
        if dead_letter is not None:
            args += ["DEADLETTER", dead_letter]
        try:
            await self.client.execute(*args)
        except ResponseError as e:
            if exist_ok and e.code == "BUSYGROUP":
                return False
            raise
        return True

    async def destroy(self) -> bool:
        return bool(await self.client.execute("CHANGES", "GROUP", "DESTROY", self.name))

    async def seek(self, start: Start) -> None:
        await self.client.execute("CHANGES", "GROUP", "SEEK", self.name, str(start))

    async def info(self) -> Optional[Dict[str, Any]]:
        """This group's entry of ``CHANGES GROUP LIST`` (None if it does not exist)."""
        groups: List[Dict[str, Any]] = await self._call("CHANGES", "GROUP", "LIST") or []
        return next((g for g in groups if g.get("name") == self.name), None)

    async def read(
        self,
        consumer: str,
        *,
        count: Optional[int] = None,
        block: Optional[int] = None,
        images: Optional[str] = None,
    ) -> List[Change]:
        """The next events for ``consumer`` (now pending for it); ``block`` waits up to that
        many ms (0 = forever) for one. An empty list when nothing came."""
        args: List[Arg] = ["CHANGES", "GROUP", "READ", self.name, consumer]
        if count is not None:
            args += ["COUNT", count]
        if block is not None:
            args += ["BLOCK", block]
        args += _images_args(images)
        return _changes(await self._call(*args), not self.client.decode_responses)

    async def ack(self, *offsets: Union[int, Change]) -> int:
        """Acknowledges events (by offset or Change); returns how many were pending."""
        if not offsets:
            return 0
        offs = [o.offset if isinstance(o, Change) else int(o) for o in offsets]
        return int(await self.client.execute("CHANGES", "ACK", self.name, *offs))

    async def pending(
        self,
        *,
        idle: Optional[int] = None,
        count: Optional[int] = None,
        consumer: Optional[str] = None,
    ) -> List[PendingEntry]:
        args: List[Arg] = ["CHANGES", "PENDING", self.name]
        if idle is not None:
            args += ["IDLE", idle]
        if count is not None:
            args += ["COUNT", count]
        if consumer is not None:
            args.append(consumer)
        rows = await self._call(*args)
        return [PendingEntry(int(o), str(c), int(i), int(d)) for o, c, i, d in rows or []]

    async def claim(self, consumer: str, min_idle_ms: int, *offsets: int) -> List[Change]:
        """Re-delivers entries idle at least ``min_idle_ms`` to ``consumer``."""
        reply = await self._call("CHANGES", "CLAIM", self.name, consumer, min_idle_ms, *offsets)
        return _changes(reply, not self.client.decode_responses)
