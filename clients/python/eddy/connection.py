"""One WebSocket to Eddy's ``/ws`` door, speaking MessagePack binary frames (docs/websocket.md).

Requests carry an ``id``; replies are matched to them by it (they also come in request order).
Everything else the server sends is a push, handed to ``on_push``.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Awaitable, Callable, Dict, List, Optional, Union

import msgpack  # type: ignore[import-untyped]
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .errors import ConnectionLostError, ResponseError

#: An argument of a command: text is sent as UTF-8, bytes as they are, numbers as their text.
Arg = Union[str, bytes, bytearray, memoryview, int, float]

#: Receives each push; may return an awaitable, which the connection awaits before it reads the
#: next message (how a full buffer holds the server back).
PushHandler = Callable[[List[Any]], Optional[Awaitable[Any]]]


def encode_arg(a: Arg) -> Union[str, bytes]:
    if isinstance(a, bool):
        raise TypeError("a bool is not a command argument; send 0/1 or a string")
    if isinstance(a, (str, bytes)):
        return a
    if isinstance(a, (bytearray, memoryview)):
        return bytes(a)
    if isinstance(a, int):
        return str(a)
    if isinstance(a, float):
        return repr(a)
    raise TypeError(f"cannot send {type(a).__name__} as a command argument")


def decode_value(v: Any) -> Any:
    """Turns nested ``{"$error": line}`` (an error inside an EXEC reply) into ResponseError
    instances; everything else is as MessagePack decoded it."""
    if isinstance(v, list):
        return [decode_value(x) for x in v]
    if isinstance(v, dict):
        if len(v) == 1 and "$error" in v:
            return ResponseError(str(v["$error"]))
        return {k: decode_value(x) for k, x in v.items()}
    return v


class Connection:
    """A WebSocket with request/reply matching. Use :meth:`open`."""

    def __init__(self, ws: ClientConnection, on_push: Optional[PushHandler]) -> None:
        self._ws = ws
        self._on_push = on_push
        self._ids = itertools.count(1)
        self._pending: Dict[int, "asyncio.Future[Any]"] = {}
        self._closed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def open(
        cls,
        url: str,
        password: Optional[str] = None,
        *,
        username: Optional[str] = None,
        on_push: Optional[PushHandler] = None,
        timeout: float = 10.0,
    ) -> "Connection":
        try:
            ws = await connect(
                url,
                max_size=None,
                compression=None,
                open_timeout=timeout,
                ping_interval=20,
                ping_timeout=20,
            )
        except (OSError, asyncio.TimeoutError) as e:
            raise ConnectionLostError(f"cannot connect to {url}: {e}") from e
        except Exception as e:  # websockets' handshake errors
            raise ConnectionLostError(f"cannot connect to {url}: {e}") from e
        conn = cls(ws, on_push)
        if password is not None:
            try:
                if username is not None:
                    await conn.call("AUTH", username, password)
                else:
                    await conn.call("AUTH", password)
            except BaseException:
                await conn.close()
                raise
        return conn

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def call(self, *args: Arg) -> Any:
        """Sends one command and waits for its reply (raising ResponseError for an error)."""
        if not args:
            raise ValueError("a command needs at least its name")
        if self.closed:
            raise ConnectionLostError("the connection is closed")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        frame = msgpack.packb({"id": rid, "cmd": [encode_arg(a) for a in args]}, use_bin_type=True)
        try:
            await self._ws.send(frame)
        except ConnectionClosed as e:
            self._pending.pop(rid, None)
            raise ConnectionLostError(f"connection closed: {e}") from e
        return await fut

    async def _read_loop(self) -> None:
        try:
            async for data in self._ws:
                if isinstance(data, str):
                    continue  # only replies to JSON requests come as text; we send none
                msg = msgpack.unpackb(data, raw=False, strict_map_key=False)
                if "push" in msg:
                    if self._on_push is not None:
                        wait = self._on_push(decode_value(msg["push"]))
                        if wait is not None:
                            await wait
                    continue
                fut = self._pending.pop(msg.get("id"), None)
                if fut is None or fut.done():
                    continue
                if "error" in msg:
                    fut.set_exception(ResponseError(str(msg["error"])))
                else:
                    fut.set_result(decode_value(msg.get("reply")))
        except ConnectionClosed:
            pass
        except Exception as e:  # a frame we cannot decode: the connection is unusable
            self._fail_all(ConnectionLostError(f"bad frame from the server: {e}"))
            await self._ws.close()
        finally:
            self._fail_all(ConnectionLostError("connection closed before the reply"))
            self._closed.set()

    def _fail_all(self, exc: Exception) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)

    async def close(self) -> None:
        await self._ws.close()
        try:
            await asyncio.wait_for(self._closed.wait(), 5)
        except asyncio.TimeoutError:
            self._reader.cancel()

    def abort(self) -> None:
        """Drops the TCP connection at once, without a close handshake (as a network failure
        would). For tests of reconnecting."""
        transport = getattr(self._ws, "transport", None)
        if transport is not None:
            transport.abort()
