"""What the plugin process prepares in Dify's SDK runtime once it has started (main.py).

The SDK runs each request on a worker of its `ThreadPoolExecutor` (greenlets under gevent) and
makes a new worker when none is idle. Starting a worker waits until the hub has run it once; in
a busy process (many streams) that is one pass over everything the hub has to do, tens of
milliseconds, and the SDK's request reader waits for it before it reads the next request. A burst
of 140 new streams then started over 4.6 s (bench section 9, measured here); with workers made
ahead of time, all had started within 0.9 s. An idle worker costs about 16 KB.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["IDLE_WORKERS", "prewarm_workers", "warm_up"]

logger = logging.getLogger(__name__)

IDLE_WORKERS = 256
"""Workers made at start: about 4 MB, and no wait for a new worker up to this many concurrent requests."""


def prewarm_workers(executor: Any, count: int = IDLE_WORKERS) -> bool:
    """Make up to `count` workers in `executor` (a ThreadPoolExecutor; anything else is left
    alone) and leave them idle. Beyond the executor's own maximum the tasks simply queue."""
    if not isinstance(executor, ThreadPoolExecutor):
        return False
    release = threading.Event()
    # Each task holds its worker until all are submitted, so every submit makes a new one.
    for _ in range(count):
        executor.submit(release.wait)
    release.set()
    return True


def warm_up(plugin: Any) -> None:
    """After start: load the openai SDK and make the request workers (before users' first requests)."""
    from oai_bridge.transport.clients import warm_up as load_sdk

    load_sdk()
    if not prewarm_workers(getattr(plugin, "executer", None)):  # the SDK's IOServer attribute
        logger.debug("the SDK's request executor was not found; workers are made on demand")
