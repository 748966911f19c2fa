"""The plugin runs under Dify's stdio protocol: manifest first, heartbeats, and a request to an
unreachable server ends with an InvokeError session message instead of hanging."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
import yaml

from tests.support.plugin_process import PluginProcess, SessionResult, plugin_root

pytestmark = pytest.mark.timeout(90)

# dify_plugin.errors.model's classes, by name (what the plugin sends over stdio)
INVOKE_ERRORS = {
    "InvokeError",
    "InvokeConnectionError",
    "InvokeServerUnavailableError",
    "InvokeRateLimitError",
    "InvokeAuthorizationError",
    "InvokeBadRequestError",
}


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_starts_with_manifest_heartbeat_and_clean_stdout(
    plugin_factory: Callable[..., PluginProcess],
) -> None:
    proc = plugin_factory()
    source = yaml.safe_load((plugin_root() / "manifest.yaml").read_text(encoding="utf-8"))
    manifest = proc.manifest
    assert proc.frames[0] is manifest
    for key in ("name", "author", "type", "icon"):
        assert manifest[key] == source[key], key
    assert manifest["version"] == str(source["version"])
    assert manifest["meta"]["version"] == str(source["meta"]["version"])
    assert manifest["meta"]["runner"] == source["meta"]["runner"]
    assert manifest["label"] == source["label"]
    assert manifest["plugins"]["models"] == source["plugins"]["models"]
    assert manifest["resource"]["memory"] == source["resource"]["memory"]

    at = proc.wait_heartbeat(timeout=30)
    assert at < 30
    assert proc.alive
    assert not proc.noise, f"non-JSON output on stdout corrupts Dify's channel: {proc.noise}"
    events = {f.get("event") for f in proc.frames[1:]}
    assert events <= {"heartbeat", "log"}, events


def ask_closed_port(plugin: PluginProcess, port: int, stream: bool = True) -> SessionResult:
    return plugin.invoke(
        "invoke_llm",
        model="some-model",
        credentials={"base_url": f"http://127.0.0.1:{port}/v1", "mode": "chat"},
        prompt_messages=[{"role": "user", "content": "Hello"}],
        model_parameters={"max_tokens": 8},
        stream=stream,
        timeout=30,
    )


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "blocking"])
def test_unreachable_server_gives_invoke_error(plugin: PluginProcess, closed_port: int, stream: bool) -> None:
    result = ask_closed_port(plugin, closed_port, stream)
    details = f"{result.messages}\n{plugin.describe()}"
    assert result.ended, details
    assert result.error is not None, f"expected an error session message\n{details}"
    assert result.messages[-2]["type"] == "error", details
    assert set(result.error) >= {"error_type", "message", "args"}, details
    assert result.error_type in INVOKE_ERRORS, details
    assert result.error_type == "InvokeConnectionError", details
    assert result.elapsed is not None
    assert result.elapsed < 15, f"took {result.elapsed:.1f}s to report a refused connection"
    assert not [s for s in result.stream if s.get("delta", {}).get("message", {}).get("content")]
    assert plugin.alive, plugin.describe()


def _tuning_logs(proc: PluginProcess) -> list[tuple[str, str]]:
    return [
        (str(log.get("level")), str(log.get("message")))
        for log in proc.logs
        if str(log.get("message")).startswith("process tuning")
    ]


def test_the_process_tuning_is_installed_at_start_and_said_once(plugin_factory: Callable[..., PluginProcess]) -> None:
    """main.py installs every tuning (oai_bridge/runtime.py) in the real SDK process: one INFO
    line, no WARNING (a patch that could not be installed is named at WARNING)."""
    proc = plugin_factory()
    proc.wait_for(lambda: _tuning_logs(proc), timeout=60, what="the process tuning's log line")
    assert _tuning_logs(proc) == [
        (
            "INFO",
            "process tuning installed: httpcore idle-connection check by the OS's poll; IP literals resolved "
            "in place, names remembered; 256 request workers made ahead",
        )
    ], proc.describe()


def test_the_tuning_switch_leaves_the_libraries_as_released(
    plugin_factory: Callable[..., PluginProcess], closed_port: int
) -> None:
    proc = plugin_factory(env={"OAI_BRIDGE_TUNING": "off"})
    proc.wait_for(lambda: _tuning_logs(proc), timeout=60, what="the process tuning's log line")
    assert _tuning_logs(proc) == [
        ("INFO", "process tuning off (OAI_BRIDGE_TUNING=off): httpcore, gevent and the SDK behave as released")
    ], proc.describe()
    result = ask_closed_port(proc, closed_port)
    assert result.error_type == "InvokeConnectionError", proc.describe(result)
