"""Process tuning: the one place that changes how libraries behave for the whole plugin process.

`start(plugin)` is called from main.py before `plugin.run()`. It installs, under Dify's SDK
runtime (gevent-patched):

* httpcore's idle-connection check answered with the OS's `poll` (`transport.idle_check`;
  touches `httpcore._backends.sync`);
* IP literals resolved in place and names remembered, in front of gevent's resolver
  (`transport.resolver`; touches the gevent hub's `resolver`);
* after start, the SDK's request workers made ahead of time (`prewarm_workers`; uses the SDK's
  undocumented `IOServer.executer`), and the `openai` SDK loaded before users' first requests.

Each patch falls back to the library's own behaviour: one that cannot be installed is left out
(logged at WARNING), and one that fails at call time gives way to the original. One INFO line
says what was installed. `OAI_BRIDGE_TUNING=off` in the plugin's environment installs none of it
(for diagnosing: the libraries then behave exactly as released).

Why the `openai` SDK is loaded after the first heartbeat, not before: its import is about 0.5 s
of CPU (measured here, 94% of what the first request costs more than later ones), and in one
process it shares the GIL with the start-up, so loading it in a second thread from the start
delayed the heartbeat by about as much (bench row 5a at 1.67× the minimal plugin, over its 1.3×
bound) and a first request still waited for it.

Why prewarm: the SDK runs each request on a worker of its `ThreadPoolExecutor` (greenlets under
gevent) and makes a new worker when none is idle. Starting a worker waits until the hub has run it
once; in a busy process (many streams) that is one pass over everything the hub has to do, tens
of milliseconds, and the SDK's request reader waits for it before it reads the next request. A
burst of 140 new streams then started over 4.6 s (bench section 9, measured here); with workers
made ahead of time, all had started within 0.9 s. An idle worker costs about 16 KB.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "IDLE_WORKERS",
    "TUNING_ENV",
    "Tuning",
    "install_tuning",
    "prewarm_workers",
    "sdk_executor",
    "start",
    "tuning_enabled",
    "warm_up",
]

logger = logging.getLogger(__name__)

IDLE_WORKERS = 256
"""Workers made at start: about 4 MB, and no wait for a new worker up to this many concurrent requests."""
TUNING_ENV = "OAI_BRIDGE_TUNING"
"""`off` (or `0`, `false`, `no`) turns every process tuning off."""
WARM_UP_DELAY = 1.0
"""Seconds after start (the first heartbeat has gone out) before the warm-up runs."""


@dataclass
class Tuning:
    """What `install_tuning` and `warm_up` did: names installed, and why the others were not."""

    installed: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)

    def attempt(self, name: str, install: Callable[[], None]) -> None:
        try:
            install()
        except Exception as exc:  # noqa: BLE001 - any failure: the library keeps its own behaviour
            self.missing[name] = str(exc) or type(exc).__name__
        else:
            self.installed.append(name)

    def log(self) -> None:
        if self.installed:
            logger.info("process tuning installed: %s", "; ".join(self.installed))
        for name, why in self.missing.items():
            logger.warning("process tuning not installed: %s (%s); the library's own behaviour stays", name, why)


def tuning_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(TUNING_ENV, "").strip().lower() not in ("off", "0", "false", "no")


def install_tuning() -> Tuning:
    """Install the patches that must be in place before requests arrive (not logged yet)."""
    from oai_bridge.transport import idle_check, resolver

    tuning = Tuning()
    tuning.attempt("httpcore idle-connection check by the OS's poll", idle_check.install)
    tuning.attempt("IP literals resolved in place, names remembered", resolver.install)
    return tuning


def sdk_executor(plugin: Any) -> ThreadPoolExecutor:
    """The SDK's request executor (`IOServer.executer`, dify_plugin 0.10); `RuntimeError` when the
    SDK no longer has it in that form."""
    executor = getattr(plugin, "executer", None)
    if not isinstance(executor, ThreadPoolExecutor):
        raise RuntimeError(f"the SDK's plugin has no ThreadPoolExecutor `executer` (found {type(executor).__name__})")
    return executor


def prewarm_workers(executor: ThreadPoolExecutor, count: int = IDLE_WORKERS) -> None:
    """Make up to `count` workers in `executor` and leave them idle. Beyond the executor's own
    maximum the tasks simply queue."""
    release = threading.Event()
    try:
        # Each task holds its worker until all are submitted, so every submit makes a new one.
        for _ in range(count):
            executor.submit(release.wait)
    finally:
        release.set()


def warm_up(plugin: Any, tuning: Tuning | None) -> None:
    """After start: load the openai SDK, make the request workers (unless tuning is off), and
    log what the process tuning did."""
    from oai_bridge.transport.clients import warm_up as load_sdk

    try:
        load_sdk()
    finally:  # the workers and the log line even if the SDK failed to load (each request then says why)
        if tuning is not None:
            tuning.attempt(f"{IDLE_WORKERS} request workers made ahead", lambda: prewarm_workers(sdk_executor(plugin)))
            tuning.log()


def start(plugin: Any, environ: Mapping[str, str] = os.environ) -> Tuning | None:
    """From main.py, before `plugin.run()`: install the process tuning (unless switched off) and
    schedule the warm-up for just after the first heartbeat."""
    from gevent import spawn_later

    tuning = install_tuning() if tuning_enabled(environ) else None
    if tuning is None:
        logger.info(
            "process tuning off (%s=%s): httpcore, gevent and the SDK behave as released",
            TUNING_ENV,
            environ.get(TUNING_ENV),
        )
    spawn_later(WARM_UP_DELAY, warm_up, plugin, tuning)
    return tuning
