"""Shared fixtures: the plugin under Dify's stdio protocol, the real peers (llama-server,
llama-cpp-python's server, a LiteLLM proxy in front of llama-server, a Piper text-to-speech
server) and a scriptable fake HTTP server. Import helpers as ``from tests.support.fake_server import ...``.

Environment knobs (all optional):
* ``OAIB_PLUGIN_ROOT`` - run the plugin from another directory than this checkout.
* ``OAIB_CACHE`` - cache root for the peers' builds (see tests/peer/build_*.sh).

The test process is gevent-patched here, before anything else is imported, exactly as the plugin
is (its main.py imports dify_plugin first, whose import patches): one test file alone and the
whole suite run under the same concurrency.

Tests marked ``canary`` check that what a workaround works around is still there; their failures
are summarised apart from regressions.
"""

from __future__ import annotations

import dify_plugin  # noqa: F401  # isort: skip  # first: gevent-patches the process

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import lcp_server as _lcp  # noqa: E402
from tests.support import litellm_proxy as _litellm  # noqa: E402
from tests.support import llama_server as _llama  # noqa: E402
from tests.support import tts_peer as _tts  # noqa: E402
from tests.support.fake_server import FakeServer  # noqa: E402
from tests.support.peer_process import PeerServer  # noqa: E402
from tests.support.plugin_process import PluginProcess, plugin_root  # noqa: E402

PLUGIN_ROOT = plugin_root()


# -- the real peers: build before the first test so a build never eats a test's timeout ----
@dataclass(frozen=True)
class _Peer:
    fixtures: tuple[str, ...]  # built only when a collected test uses one of these fixtures
    build: Callable[[], Path]
    server: str  # in the progress messages
    package: str  # in the failure messages
    minutes: int  # a first build's rough duration
    error: type[AssertionError]


_PEERS = (
    _Peer(
        ("llama_server", "rerank_server"),
        _llama.ensure_built,
        "llama-server",
        "llama-server",
        7,
        _llama.LlamaServerError,
    ),
    _Peer(("lcp_server",), _lcp.ensure_built, "llama_cpp.server", "llama-cpp-python", 6, _lcp.LcpServerError),
    _Peer(("litellm_proxy",), _litellm.ensure_built, "LiteLLM proxy", "litellm[proxy]", 2, _litellm.LiteLLMError),
    _Peer(("tts_peer",), _tts.ensure_built, "local-tts (Piper)", "local-tts-studio + piper-tts", 1, _tts.TtsPeerError),
)
_build_errors: dict[str, BaseException] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Build the needed peers one after the other (never competing for the cores)."""
    if session.config.option.collectonly:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for peer in _PEERS:
        if not any(set(peer.fixtures) & set(getattr(item, "fixturenames", ())) for item in session.items):
            continue
        if reporter is not None:
            reporter.write_line(
                f"{peer.server} peer: building if not cached (first run only, about {peer.minutes} min)…"
            )
        try:
            path = peer.build()
        except BaseException as exc:
            for fixture in peer.fixtures:
                _build_errors[fixture] = exc
            if reporter is not None:
                reporter.write_line(f"{peer.package} build FAILED: {exc}"[:2000], red=True)
            if isinstance(exc, KeyboardInterrupt):
                raise
        else:
            if reporter is not None:
                reporter.write_line(f"{peer.server} peer ready: {path}")


def _raise_if_build_failed(fixture: str) -> None:
    """A failed build makes the fixture's tests error, never skip."""
    error = _build_errors.get(fixture)
    if error is not None:
        peer = next(p for p in _PEERS if fixture in p.fixtures)
        msg = f"{peer.package} could not be built: {error}"
        raise peer.error(msg)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_llama.LlamaServer]:
    """One llama-server for the whole session: ``.base_url`` (http://127.0.0.1:PORT/v1),
    ``.model`` ("tiny"), ``.log_path``. Fails (never skips) when it cannot be built."""
    _raise_if_build_failed("llama_server")
    with _llama.LlamaServer.start(log_dir=tmp_path_factory.mktemp("llama-server")) as server:
        yield server


@pytest.fixture(scope="session")
def rerank_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_llama.RerankServer]:
    """One ``llama-server --reranking`` on the tiny generated BERT cross-encoder for the whole
    session: ``.origin`` (http://127.0.0.1:PORT), ``.base_url`` (origin + /v1), ``.model``
    ("tiny-reranker"). Scores are raw logits. Fails (never skips) when it cannot be built."""
    _raise_if_build_failed("rerank_server")
    with _llama.RerankServer.start(log_dir=tmp_path_factory.mktemp("llama-rerank")) as server:
        yield server


@pytest.fixture(scope="session")
def lcp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_lcp.LcpServer]:
    """One ``python -m llama_cpp.server`` for the whole session (chatml-function-calling chat
    format, embeddings on): ``.base_url`` (http://127.0.0.1:PORT/v1), ``.model`` ("tiny"),
    ``.log_tail()``. Fails (never skips) when it cannot be built."""
    _raise_if_build_failed("lcp_server")
    with _lcp.LcpServer.start(log_dir=tmp_path_factory.mktemp("lcp-server")) as server:
        yield server


@pytest.fixture(scope="session")
def litellm_proxy(llama_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_litellm.LiteLLMProxy]:
    """One LiteLLM proxy for the whole session, routing tests/peer/litellm_config.yaml's public
    names to ``llama_server``: ``.base_url``, ``.master_key`` (the only key it accepts),
    ``.model`` ("proxy-chat"), ``.log_tail()``. Fails (never skips) when it cannot be installed."""
    _raise_if_build_failed("litellm_proxy")
    with _litellm.LiteLLMProxy.start(
        upstream=llama_server.base_url, log_dir=tmp_path_factory.mktemp("litellm")
    ) as server:
        yield server


@pytest.fixture(scope="session")
def tts_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_tts.TtsPeer]:
    """One local-tts-studio (Piper, voice en_US-joe-medium) for the whole session:
    ``.base_url`` (http://127.0.0.1:PORT/v1), ``.api_key`` (required), ``.log_tail()``. It speaks
    wav/pcm only and ignores ``model``/``voice``. Fails (never skips) when it cannot be built."""
    _raise_if_build_failed("tts_peer")
    with _tts.TtsPeer.start(log_dir=tmp_path_factory.mktemp("local-tts")) as server:
        yield server


# -- the plugin under Dify's stdio protocol ----------------------------------------------
class _SharedPlugin:
    """A module-wide plugin process, restarted if a test killed or crashed it."""

    def __init__(self) -> None:
        self.proc: PluginProcess | None = None

    def get(self) -> PluginProcess:
        if self.proc is None or not self.proc.alive:
            if self.proc is not None:
                self.proc.close()
            self.proc = PluginProcess(root=PLUGIN_ROOT)
        return self.proc

    def close(self) -> None:
        if self.proc is not None:
            self.proc.close()
            self.proc = None


@pytest.fixture(scope="module")
def _shared_plugin() -> Iterator[_SharedPlugin]:
    shared = _SharedPlugin()
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def plugin(_shared_plugin: _SharedPlugin) -> PluginProcess:
    """The plugin (``python -m main``, INSTALL_METHOD=local), shared by the tests of one
    module. Use ``plugin_factory`` for a fresh process or a custom environment."""
    return _shared_plugin.get()


@pytest.fixture
def plugin_factory() -> Iterator[Callable[..., PluginProcess]]:
    """``plugin_factory(env={"HTTP_PROXY": None, ...}, root=..., start_timeout=60)`` starts a
    fresh plugin process; every process it made is killed at the end of the test."""
    made: list[PluginProcess] = []

    def factory(
        env: dict[str, str | None] | None = None,
        *,
        root: Path | str | None = None,
        start_timeout: float = 60.0,
    ) -> PluginProcess:
        proc = PluginProcess(root=root or PLUGIN_ROOT, env=env, start_timeout=start_timeout)
        made.append(proc)
        return proc

    try:
        yield factory
    finally:
        for proc in made:
            proc.close()


# -- the fake HTTP peer ----------------------------------------------------------------------
@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A fresh scriptable loopback HTTP/1.1 server (``.base_url`` = http://127.0.0.1:PORT/v1)."""
    server = FakeServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_server_factory() -> Iterator[Callable[[], FakeServer]]:
    """For tests that need several fake servers at once."""
    made: list[FakeServer] = []

    def factory() -> FakeServer:
        server = FakeServer()
        made.append(server)
        return server

    try:
        yield factory
    finally:
        for server in made:
            server.stop()


# -- canaries: a workaround may no longer be needed ----------------------------------------
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    canaries = [r for r in terminalreporter.stats.get("failed", []) if "canary" in r.keywords]
    if not canaries:
        return
    terminalreporter.section("canaries (not regressions)", sep="=", yellow=True)
    for report in canaries:
        terminalreporter.write_line(
            f"{report.nodeid}: a workaround may no longer be needed: the library no longer does what it works "
            "around. Check the release, then remove the workaround and this test."
        )


# -- failure reports: attach what the plugin and the peers said ----------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.passed or report.skipped:
        return
    funcargs = getattr(item, "funcargs", {}) or {}
    seen: set[int] = set()
    for name, value in funcargs.items():
        with contextlib.suppress(Exception):
            if isinstance(value, PluginProcess) and id(value) not in seen:
                seen.add(id(value))
                report.sections.append((f"plugin [{name}] stderr/logs", value.describe()))
            elif isinstance(value, PeerServer):
                report.sections.append((f"{value.name} log tail", value.log_tail(3000)))
            elif isinstance(value, FakeServer):
                lines = [
                    f"{r.method} {r.target} conn={r.connection_id} body={r.body[:300]!r}" for r in value.requests[-20:]
                ]
                if value.errors:
                    lines.append(f"server errors: {value.errors}")
                report.sections.append(("fake_server requests", "\n".join(lines) or "(none)"))
    _ = call
