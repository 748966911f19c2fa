"""Self-tests of the harness: the stdio driver against a scripted stand-in plugin, and the
fake HTTP server against httpx. Fast, no SDK and no model code involved."""

from __future__ import annotations

import os
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.fake_server import (
    RESET,
    Delay,
    FakeServer,
    Raw,
    Response,
    chat_chunk,
    close_after_request,
    headers_then_stall,
    json_response,
    partial_then_reset,
    reset,
    sse_body,
    sse_response,
    stall,
)
from tests.support.plugin_process import PluginProcess, PluginSessionError, PluginStartError

pytestmark = pytest.mark.timeout(60)

FAKE_MAIN = textwrap.dedent(
    """
    import json, os, subprocess, sys, threading, time

    out = sys.stdout
    lock = threading.Lock()

    def emit(text, split=False):
        with lock:
            if split:  # one frame in two writes, a pause in between
                out.write(text[:7]); out.flush(); time.sleep(0.05)
                out.write(text[7:])
            else:
                out.write(text)
            out.flush()

    def session(sid, kind, data):
        return json.dumps({"event": "session", "session_id": sid, "data": {"type": kind, "data": data}})

    sys.stderr.write("fake-plugin stderr marker\\n"); sys.stderr.flush()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(os.environ["CHILD_PID_FILE"], "w") as fh:
        fh.write(str(child.pid))
    emit(json.dumps({"name": "fake", "version": "0.0.1"}) + "\\n\\n")
    emit('{"event":"heartbeat","session_id":null,"data":{}}{"event":"log","data":{"level":"INFO","message":"glued"}}\\n')
    emit("   \\n\\n\\t\\n")
    emit("stray print\\n")

    def handle(req):
        sid, action = req["session_id"], req["data"]["action"]
        if action == "echo":
            for i in range(req["data"].get("n", 3)):
                time.sleep(req["data"].get("delay", 0))
                emit(session(sid, "stream", {"i": i, "sid": sid}) + "\\n\\n", split=True)
            emit(session(sid, "end", {}) + "\\n\\n")
        elif action == "fail":
            emit(session(sid, "error", {"error_type": "InvokeConnectionError", "message": "nope",
                                        "args": {}}) + "\\n\\n" + session(sid, "end", {}) + "\\n\\n")
        elif action == "reject":
            emit(json.dumps({"event": "error", "session_id": sid, "data": {"error": "bad"}}) + "\\n\\n")
            emit(session(sid, "end", {}) + "\\n\\n")
        elif action == "die":
            os._exit(3)
        # "hang": never answer

    for line in sys.stdin:
        if line.strip():
            threading.Thread(target=handle, args=(json.loads(line),), daemon=True).start()
    while True:  # like the SDK: never exit on EOF
        time.sleep(1)
    """
)


@pytest.fixture
def fake_plugin(tmp_path: Path):
    (tmp_path / "main.py").write_text(FAKE_MAIN)
    pid_file = tmp_path / "child.pid"
    proc = PluginProcess(root=tmp_path, env={"CHILD_PID_FILE": str(pid_file)}, start_timeout=20)
    try:
        yield proc, pid_file
    finally:
        proc.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_frames_are_split_routed_and_timed(fake_plugin) -> None:
    proc, _ = fake_plugin
    assert proc.manifest == {"name": "fake", "version": "0.0.1"}
    proc.wait_heartbeat(5)
    proc.wait_for(lambda: proc.noise, 5, "the stray print")
    assert proc.noise == ["stray print"]
    assert proc.logs[0]["message"] == "glued"
    assert proc.stderr_text.startswith("fake-plugin stderr marker")

    res = proc.request("echo", {"n": 3, "delay": 0.05}, timeout=10).raise_for_error()
    assert [s["i"] for s in res.stream] == [0, 1, 2]
    assert res.ended and res.error is None
    assert res.first_frame_at is not None and res.elapsed is not None
    assert res.stream_times == sorted(res.stream_times)
    assert res.first_frame_at <= res.elapsed

    failed = proc.request("fail", {}, timeout=10)
    assert failed.error_type == "InvokeConnectionError" and failed.ended
    with pytest.raises(PluginSessionError, match="InvokeConnectionError: nope"):
        failed.raise_for_error()

    rejected = proc.request("reject", {}, timeout=10)
    assert rejected.protocol_errors == [{"error": "bad"}]
    with pytest.raises(PluginSessionError, match="rejected"):
        rejected.raise_for_error()


def test_concurrent_requests_are_routed_by_session(fake_plugin) -> None:
    proc, _ = fake_plugin
    results = {}

    def run(i: int) -> None:
        results[i] = proc.request("echo", {"n": 4, "delay": 0.02}, timeout=10)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 12
    for res in results.values():
        assert [s["sid"] for s in res.stream] == [res.session_id] * 4
        assert [s["i"] for s in res.stream] == [0, 1, 2, 3]
    assert not proc.unrouted


def test_timeout_and_death_fail_with_stderr(fake_plugin) -> None:
    proc, _ = fake_plugin
    started = time.monotonic()
    with pytest.raises(PluginSessionError, match=r"(?s)did not end within 0.5s.*stderr marker"):
        proc.request("hang", {}, timeout=0.5)
    assert time.monotonic() - started < 3
    with pytest.raises(PluginSessionError, match=r"exited \(rc=3\)"):
        proc.request("die", {}, timeout=10)


def test_close_kills_the_process_group(fake_plugin) -> None:
    proc, pid_file = fake_plugin
    proc.wait_for(pid_file.exists, 5, "the child pid file")
    child = int(pid_file.read_text())
    assert _pid_alive(child) and proc.alive
    proc.close()
    assert proc.returncode is not None
    deadline = time.monotonic() + 5
    while _pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(child)


def test_start_failure_is_reported(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("import sys\nsys.stderr.write('cannot start: boom\\n')\nsys.exit(2)\n")
    with pytest.raises(PluginStartError, match="cannot start: boom"):
        PluginProcess(root=tmp_path, start_timeout=10)


# -- fake server ---------------------------------------------------------------------------
def test_keep_alive_recording_and_fallbacks(fake_server: FakeServer) -> None:
    fake_server.always(json_response({"data": []}), path="/v1/models")
    fake_server.add(json_response({"n": 1}), json_response({"n": 2}), path="/v1/chat/completions")
    with httpx.Client(base_url=fake_server.base_url) as client:
        assert client.get("/models").json() == {"data": []}
        assert client.post("/chat/completions", json={"model": "m"}).json() == {"n": 1}
        assert client.post("/chat/completions", json={"model": "m2"}, headers={"X-A": "b"}).json() == {"n": 2}
        unscripted = client.post("/chat/completions", json={})
        assert unscripted.status_code == 418
        assert client.get("/models").json() == {"data": []}
    reqs = fake_server.requests
    assert len({r.connection_id for r in reqs}) == 1  # one pooled connection
    assert reqs[2].json == {"model": "m2"} and reqs[2].headers["x-a"] == "b"
    assert reqs[2].path == "/v1/chat/completions" and reqs[2].method == "POST"
    assert fake_server.unmatched == [reqs[3]]
    assert fake_server.pending_scripts == 0


def test_pieces_arrive_in_time_chunked_and_content_length(fake_server: FakeServer) -> None:
    events = [chat_chunk(role="assistant", content=""), chat_chunk("a"), chat_chunk("b", finish_reason="stop")]
    fake_server.add(sse_response(events, piece_delay=0.2))
    fake_server.add(sse_response(events, chunked=False, crlf=True))
    with httpx.Client() as client:
        arrivals = []
        started = time.monotonic()
        with client.stream("POST", fake_server.url("/v1/chat/completions"), json={}) as resp:
            assert resp.headers["transfer-encoding"] == "chunked"
            arrivals.extend(time.monotonic() - started for _ in resp.iter_raw())
        assert arrivals[-1] >= 0.55 and arrivals[0] < 0.15
        body = client.post(fake_server.url("/v1/chat/completions"), json={})
        assert body.content == sse_body(events, crlf=True)
        assert body.headers["content-length"] == str(len(body.content))


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (reset(), httpx.ReadError),
        (close_after_request(), httpx.RemoteProtocolError),
        (stall(), httpx.ReadTimeout),
        (headers_then_stall(), httpx.ReadTimeout),
        (partial_then_reset(), httpx.ReadError),
        (
            partial_then_reset(chunked=False, content_length=100, pieces=[b'{"a":']),
            httpx.ReadError,
        ),
        (Response(200, [("Content-Length", "50")], pieces=[b"short", Delay(0.05), RESET]), httpx.ReadError),
    ],
    ids=["reset", "close", "stall", "headers-stall", "partial-reset", "short-body-reset", "pieces-reset"],
)
def test_faults(fake_server: FakeServer, script, error) -> None:
    fake_server.add(script)
    with httpx.Client(timeout=0.5) as client, pytest.raises(error):
        client.post(fake_server.url("/v1/chat/completions"), json={"x": 1}).read()
    assert fake_server.requests[0].json == {"x": 1}


def test_raw_bytes_are_sent_verbatim(fake_server: FakeServer) -> None:
    raw = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    fake_server.add(Raw([raw[:20], Delay(0.05), raw[20:]]))
    resp = httpx.get(fake_server.url("/x"))
    assert resp.status_code == 200 and resp.json() == {}


def test_stop_does_not_hang_on_stalled_connections() -> None:
    server = FakeServer()
    server.always(stall())
    errors: list[BaseException] = []

    def hang() -> None:
        try:
            httpx.get(server.url("/hang"), timeout=30)
        except httpx.HTTPError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hang) for _ in range(5)]
    for thread in threads:
        thread.start()
    server.wait_for_requests(5)
    started = time.monotonic()
    server.stop()
    for thread in threads:
        thread.join(5)
    assert time.monotonic() - started < 5
    assert len(errors) == 5


def test_many_concurrent_connections(fake_server: FakeServer) -> None:
    fake_server.always(json_response({"ok": True}))
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            with httpx.Client() as client:
                for _ in range(10):
                    assert client.get(fake_server.url("/x")).json() == {"ok": True}
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not failures
    assert len(fake_server.requests) == 300
    assert fake_server.connections_accepted == 30
