"""`runtime`: the process tuning's one entry point, and `prewarm_workers`: a burst of requests on a
busy plugin process starts without waiting for the SDK's executor to make a worker per request.
The pytest process is gevent-patched like the plugin (tests/conftest.py)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import gevent
import greenlet
import pytest

from oai_bridge.runtime import IDLE_WORKERS, TUNING_ENV, Tuning, prewarm_workers, sdk_executor, tuning_enabled
from tests.support.patched import run_patched

pytestmark = pytest.mark.timeout(60)


def burst(executor: ThreadPoolExecutor, requests: int = 40) -> tuple[int, int]:
    """(threads started, greenlet switches) while the SDK's reader submits `requests` requests
    that last (streams). Each switch is a wait for the hub: in a busy process, a whole pass over
    its work."""
    before = threading.active_count()
    streaming = threading.Event()
    seen: list[str] = []
    greenlet.settrace(lambda event, args: seen.append(event))
    try:
        for _ in range(requests):
            executor.submit(streaming.wait)
    finally:
        greenlet.settrace(None)
        streaming.set()
    return threading.active_count() - before, len(seen)


@pytest.mark.canary
def test_without_workers_made_ahead_each_request_of_a_burst_waits_for_the_hub() -> None:
    executor = ThreadPoolExecutor(max_workers=1000)  # as the SDK's IOServer makes it
    try:
        started, switches = burst(executor)
    finally:
        executor.shutdown()
    assert started == 40
    assert switches >= 40, "starting a worker no longer waits for gevent's hub: prewarming may be unnecessary"


def test_with_workers_made_ahead_a_burst_starts_no_thread_and_never_waits() -> None:
    executor = ThreadPoolExecutor(max_workers=1000)
    try:
        prewarm_workers(executor, 40)
        gevent.idle()  # at start the process is idle: the workers are ready long before users
        assert burst(executor) == (0, 0)
    finally:
        executor.shutdown()


def test_the_real_sdk_plugin_has_the_executor_the_prewarm_uses() -> None:
    """`Plugin(DifyPluginEnv())` as main.py makes it (a local install: nothing is connected)."""
    lines = run_patched(
        """
        import os, threading
        os.environ["INSTALL_METHOD"] = "local"
        from dify_plugin import DifyPluginEnv, Plugin
        from oai_bridge.runtime import Tuning, sdk_executor, warm_up

        plugin = Plugin(DifyPluginEnv())
        executor = sdk_executor(plugin)
        before = threading.active_count()
        tuning = Tuning()
        warm_up(plugin, tuning)
        print(executor._max_workers == plugin.config.MAX_WORKER, threading.active_count() - before)
        print(tuning.installed, tuning.missing)
        """
    )
    executor_found, made = lines[-2].split()
    assert executor_found == "True"
    assert int(made) >= min(IDLE_WORKERS, 100)
    assert lines[-1] == f"['{IDLE_WORKERS} request workers made ahead'] {{}}"


def test_without_the_sdks_executor_the_prewarm_is_reported_not_installed(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RuntimeError, match="no ThreadPoolExecutor"):
        sdk_executor(object())
    tuning = Tuning()
    tuning.attempt("request workers", lambda: prewarm_workers(sdk_executor(object())))
    tuning.attempt("something that works", lambda: None)
    with caplog.at_level(logging.INFO, logger="oai_bridge"):
        tuning.log()
    levels = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert levels[0] == ("INFO", "process tuning installed: something that works")
    assert levels[1][0] == "WARNING" and levels[1][1].startswith("process tuning not installed: request workers (")


def test_the_switch_turns_tuning_off() -> None:
    assert tuning_enabled({})
    assert tuning_enabled({TUNING_ENV: "on"})
    for off in ("off", "OFF", "0", "false", "no", " off "):
        assert not tuning_enabled({TUNING_ENV: off})


@pytest.mark.parametrize(("switch", "patched"), [("on", "True True"), ("off", "False False")])
def test_start_installs_the_patches_unless_switched_off(switch: str, patched: str) -> None:
    lines = run_patched(
        f"""
        import gevent, httpcore._utils, httpcore._backends.sync as sync
        from oai_bridge import runtime
        from oai_bridge.transport.resolver import QuickResolver

        runtime.start(object(), {{"{TUNING_ENV}": "{switch}"}})
        print(sync.is_socket_readable is not httpcore._utils.is_socket_readable,
              isinstance(gevent.get_hub().resolver, QuickResolver))
        """
    )
    assert lines[-1] == patched
