"""`runtime.prewarm_workers`: a burst of requests on a busy plugin process starts without waiting
for the SDK's executor to make a worker per request. Run in a fresh interpreter that imports
`dify_plugin` first (gevent-patched), as the plugin does."""

from __future__ import annotations

import textwrap

import pytest

from tests.support.patched import run_patched

pytestmark = pytest.mark.timeout(60)

BURST = """
import time, gevent
from concurrent.futures import ThreadPoolExecutor
from oai_bridge.runtime import prewarm_workers

executor = ThreadPoolExecutor(max_workers=1000)  # as the SDK's IOServer makes it
if WARM:
    assert prewarm_workers(executor, 40)
    gevent.sleep(0.2)  # at start the process is idle: the workers are ready long before users

def busy():  # streams being served: every pass of the hub takes a while
    while True:
        started = time.perf_counter()
        while time.perf_counter() - started < 0.002:
            pass
        gevent.sleep(0)

spinners = [gevent.spawn(busy) for _ in range(5)]
gevent.sleep(0.05)
began = time.perf_counter()
starts = []
for _ in range(40):  # the SDK's reader submits each request as it reads it
    executor.submit(lambda: starts.append(time.perf_counter() - began))
while len(starts) < 40:
    gevent.sleep(0.01)
print(f"{max(starts):.3f}")
"""


def _last_start(warm: bool) -> float:
    (last,) = run_patched(f"WARM = {warm}\n" + textwrap.dedent(BURST))
    return float(last)


def test_a_burst_on_a_busy_process_starts_at_once_with_workers_made_ahead() -> None:
    cold, warm = _last_start(False), _last_start(True)
    # Measured here: the last of 40 started after ~1.6 s cold, ~0.01 s warm.
    assert cold > 0.5, "making a worker no longer waits on a busy hub: prewarming may be unnecessary"
    assert warm < 0.25


def test_anything_but_a_thread_pool_is_left_alone() -> None:
    from oai_bridge.runtime import prewarm_workers

    assert prewarm_workers(None) is False
    assert prewarm_workers(object()) is False
