"""Exceptions raised by the Eddy client."""

from __future__ import annotations

import re
from typing import Optional


class EddyError(Exception):
    """Base class of every exception this package raises."""


class ResponseError(EddyError):
    """The server answered a command with an error line (``ERR ...``, ``WRONGTYPE ...``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        """The error code: the first word of the line (``ERR``, ``WRONGTYPE``, ``NOAUTH``...)."""
        return self.message.split(" ", 1)[0]


class ConnectionLostError(EddyError, ConnectionError):
    """The WebSocket closed (or could not be opened) before a reply arrived."""


class CannotResumeError(EddyError):
    """The change feed cannot continue without a gap: start again from a snapshot.

    ``reason`` is ``"EPOCH"`` (the log's history changed: its epoch is ``epoch``) or
    ``"TRIMMED"`` (the log no longer holds the next offset; ``earliest`` is the oldest it holds).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason: str = "EPOCH" if " EPOCH " in f" {message} " else "TRIMMED"
        m = re.search(r"earliest available offset is (\d+)", message)
        self.earliest: Optional[int] = int(m.group(1)) if m else None
        m = re.search(r"its epoch is ([0-9A-Za-z]+)", message)
        self.epoch: Optional[str] = m.group(1) if m else None

    @staticmethod
    def matches(message: str) -> bool:
        """Whether a server error line means "cannot resume" (``ERR EPOCH``/``ERR TRIMMED``)."""
        return message.startswith("ERR EPOCH ") or message.startswith("ERR TRIMMED ")
