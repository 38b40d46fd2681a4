"""Polling for something a container or a server does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Polls `pred` until it holds or `timeout` seconds pass; whether it held."""
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False
