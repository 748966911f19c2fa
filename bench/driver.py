"""Driving ``python -m main`` over stdio as Dify's daemon does (``tests/support/plugin_process.py``),
without this process (the daemon's stand-in) weighing on the measurement."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.loopback import BenchServer
from bench.payloads import Scenario, expected_content
from tests.support.plugin_process import PendingSession, PluginProcess, SessionResult

PROMPT = [{"role": "user", "content": "Write a long story about a fox."}]


@contextlib.contextmanager
def quiet_driver(proc: PluginProcess) -> Iterator[None]:
    """Keep this process out of the measurement: no GC pause while the plugin's frames are read,
    and no growing history (`PluginProcess` keeps every frame)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        forget(proc)


def forget(proc: PluginProcess) -> None:
    """Drop the frames and finished sessions `PluginProcess` keeps (results already returned)."""
    with proc._cond:
        proc.frames.clear()
        del proc._stdout_raw[:]
        proc._sessions = {sid: p for sid, p in proc._sessions.items() if not p.done()}


def llm_request(proc: PluginProcess, model: str, credentials: dict[str, Any]) -> SessionResult:
    return proc.invoke("invoke_llm", model=model, credentials=credentials, prompt_messages=PROMPT, timeout=300)


def start_llm_requests(proc: PluginProcess, model: str, credentials: dict[str, Any], n: int) -> list[PendingSession]:
    """Send `n` streaming requests at once, without waiting for any (concurrent streams)."""
    prompt = [{"role": "user", "content": "Go."}]
    return [
        proc.start_invoke("invoke_llm", model=model, credentials=credentials, prompt_messages=prompt) for _ in range(n)
    ]


def check_session(result: SessionResult, s: Scenario, who: str) -> None:
    """Raise unless the session ended well with the text the server sent."""
    result.raise_for_error()
    if not result.text.endswith(expected_content(s)):
        raise RuntimeError(f"{who}: wrong text through stdio ({len(result.text)} characters)")


def credentials(name: str, server: BenchServer) -> dict[str, Any]:
    """What a user types for the loopback server: into this plugin, or into the OAICompat plugin."""
    if name == "plugin":
        return {"base_url": server.base_url}
    return {
        "endpoint_url": server.base_url,
        "mode": "chat",
        "context_size": "4096",
        "max_tokens_to_sample": "4096",
        "stream_mode_delimiter": "\\n\\n",
        "function_calling_type": "no_call",
    }


def validated(proc: PluginProcess, model: str, creds: dict[str, Any]) -> dict[str, Any]:
    """What Dify stores when the model is saved: the credentials `validate_model_credentials`
    returns (a plugin may add what it detected)."""
    result = proc.invoke("validate_model_credentials", model=model, credentials=dict(creds), timeout=120)
    return dict(result.result.get("credentials") or creds)


@contextlib.contextmanager
def plugin_and_sdk(
    server: BenchServer, plugin_root: Path, sdk_root: Path, model: str
) -> Iterator[dict[str, tuple[PluginProcess, dict[str, Any]]]]:
    """This plugin and the OAICompat plugin running side by side, each with its saved credentials
    for `model`: ``{"plugin": (process, credentials), "sdk": (…)}``."""
    with PluginProcess(root=plugin_root) as plug, PluginProcess(root=sdk_root) as sdk:
        procs = {"plugin": plug, "sdk": sdk}
        for proc in procs.values():
            proc.wait_heartbeat()
        yield {name: (proc, validated(proc, model, credentials(name, server))) for name, proc in procs.items()}
