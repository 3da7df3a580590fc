"""Starts the real ``eddy-server`` for the client test suites (clients/python, clients/compat).

As the Rust harness does (tests/common/mod.rs): a private temporary ``--dir``, free ports, and
ready once the server has logged ``Ready to accept connections`` for each door (it logs those
lines only after loading its data). The binary is ``$EDDY_SERVER_BIN`` or
``target/debug/eddy-server`` of this repository. ``EDDY_TEST_SERVER=redis-server`` starts a real
Redis instead (RESP only), which is how the compatibility suite's expectations are checked.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0


def server_bin() -> str:
    return os.environ.get("EDDY_SERVER_BIN") or str(REPO / "target" / "debug" / "eddy-server")


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies (Linux), so a killed or
    crashed test run leaves no server behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass


def reference_mode() -> bool:
    return os.environ.get("EDDY_TEST_SERVER") == "redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EddyServer:
    """A running server, stopped by :meth:`stop`. ``port`` is RESP, ``http_port`` WebSocket."""

    def __init__(self, *extra: str) -> None:
        self.extra = list(extra)
        self.dir = tempfile.mkdtemp(prefix="eddy-client-test-")
        self.log: List[str] = []
        self.proc: Optional[subprocess.Popen] = None
        for attempt in range(4):
            self.port, self.http_port = free_port(), free_port()
            if self._start():
                return
        raise RuntimeError("eddy-server did not start:\n" + "\n".join(self.log[-40:]))

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}/ws"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _start(self) -> bool:
        args = [server_bin(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--http-port", str(self.http_port), "--msgpack-port", "0",
                "--dir", self.dir, *self.extra]
        ready = {"tcp": threading.Event(), "http": threading.Event()}
        if reference_mode():
            args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                    "--dir", self.dir, "--save", "", "--logfile", "", *self.extra]
            ready = {"tcp": threading.Event()}
        env = dict(os.environ, NO_COLOR="1")
        env.pop("RUST_LOG", None)
        self.proc = subprocess.Popen(args, cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     errors="replace", preexec_fn=_die_with_parent)

        def drain(stream) -> None:
            for line in stream:
                line = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line.rstrip("\n"))
                self.log.append(line)
                m = re.search(r"Ready to accept connections ?(\w*)", line)
                if m and (m.group(1) or "tcp") in ready:
                    ready[m.group(1) or "tcp"].set()

        for s in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=drain, args=(s,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if all(e.is_set() for e in ready.values()):
                return True
            if self.proc.poll() is not None:
                return False  # e.g. a port taken meanwhile: try others
            time.sleep(0.02)
        self.stop(keep_dir=True)
        return False

    def stop(self, keep_dir: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


# -- pytest glue, imported by the conftest.py of each suite --------------------------------------

import asyncio  # noqa: E402
import inspect  # noqa: E402

import pytest  # noqa: E402

#: Longest a single async test may run before it fails (a missing event must not hang the run).
TEST_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def server():
    srv = EddyServer()
    yield srv
    srv.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Runs ``async def`` tests in a fresh event loop (no plugin needed), with a timeout."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {n: pyfuncitem.funcargs[n] for n in names}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), TEST_TIMEOUT))
    return True
