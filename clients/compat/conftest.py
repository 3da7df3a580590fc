"""One real eddy-server for the session (clients/testing/eddy_server.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testing"))

from eddy_server import pytest_pyfunc_call, server  # noqa: E402,F401
