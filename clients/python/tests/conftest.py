"""One real eddy-server for the session, and async tests (see clients/testing/eddy_server.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "testing"))

from eddy_server import EddyServer, pytest_pyfunc_call, server  # noqa: E402,F401


@pytest.fixture()
def url(server: EddyServer) -> str:
    return server.ws_url
