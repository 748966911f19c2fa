"""`make run`, as README.md and docs/quickstart.md tell users to run it from a checkout:

    cp .env.example .env      (then fill in REMOTE_INSTALL_URL and REMOTE_INSTALL_KEY)
    make run

Without a `.env`, or with the placeholder key `.env.example` ships with, it must stop and say
what `.env` needs, before installing anything. With one, it must start the plugin in
remote-debug mode (through scripts/run_remote.py, which runs `python -m main`), which connects
to the address in `.env` and hands over the key (the handshake), then registers like the daemon
expects and keeps running. A key the daemon refuses, or a port nobody listens on, is one line
and a non-zero exit, not tracebacks. `make doctor` without its arguments answers its usage
before installing anything.

Each test runs make in a copy of the checkout (so the developer's own `.env` is never read or
touched) whose `.venv` is a symlink to the virtualenv running these tests. make is called with
`-o .venv/.installed` ("treat the install stamp as old, never remake it"): the Makefile
reinstalls the requirements when they are newer than that stamp, and a test must never install
into the shared virtualenv. Everything else is the `run` target exactly as written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.peer_process import free_port
from tests.support.plugin_process import REPO_ROOT
from tests.support.remote_daemon import FakeDaemon, clean_plugin_copy

pytestmark = pytest.mark.timeout(120)

KEY = "make-run-debug-key-5f1e9c"
STAMP = ".venv/.installed"
MAKE_RUN = ["make", "-o", STAMP, "run"]
# Variables that would override `.env` (pydantic-settings: the environment wins) or change make.
_CLEARED = ("INSTALL_METHOD", "REMOTE_INSTALL_URL", "REMOTE_INSTALL_HOST", "REMOTE_INSTALL_PORT", "REMOTE_INSTALL_KEY")
_MAKE_VARS = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


def _env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in _CLEARED + _MAKE_VARS}


def _checkout(tmp_path: Path, *, venv: bool = True) -> Path:
    """A copy of the working tree without `.env`, `.venv`, tests or caches, plus `.env.example`,
    with `.venv` linked to the virtualenv running the tests (or no `.venv` at all: a fresh
    machine)."""
    prefix = Path(sys.prefix)
    if prefix == Path(sys.base_prefix) or not (prefix / "bin" / "python").exists():
        pytest.fail(f"run the tests from the project's virtualenv (make test), not {sys.executable}")
    checkout = clean_plugin_copy(REPO_ROOT, tmp_path / "checkout")
    shutil.copy2(REPO_ROOT / ".env.example", checkout / ".env.example")
    if venv:
        (checkout / ".venv").symlink_to(prefix, target_is_directory=True)
    assert (checkout / "Makefile").is_file() and not (checkout / ".env").exists()
    return checkout


def _make(checkout: Path, *args: str, timeout: float = 60) -> tuple[int, str]:
    # PYTHON: the interpreter a fresh machine would find as python3.12 (never used to install
    # here: the tests below stop before the install step or keep the stamp with -o).
    done = subprocess.run(
        ["make", *args, f"PYTHON={sys.executable}"],
        cwd=checkout,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode, done.stdout + done.stderr


def _one_line_failure(output: str, needle: str) -> None:
    """The failure is one line with ``needle``, and nothing else of the plugin's: no traceback."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    said = [line for line in lines if needle in line]
    assert len(said) == 1, output
    # what may surround it: make's echo of the recipe and its error line, the launcher's start
    # line, the plugin's INFO log events from before the connection
    others = [line for line in lines if needle not in line and not line.startswith(("make", ".venv/bin/python"))]
    for line in others:
        if line.startswith("{"):
            assert json.loads(line)["data"]["level"] == "INFO", output
        else:
            assert line.startswith("Starting the plugin for "), output


def _fill_env(checkout: Path, url: str, key: str) -> str:
    """`cp .env.example .env`, then fill in the two values the way the comments in it say."""
    shutil.copy(checkout / ".env.example", checkout / ".env")
    lines = (checkout / ".env").read_text(encoding="utf-8").splitlines()
    assert lines.count("INSTALL_METHOD=remote") == 1, ".env.example must set INSTALL_METHOD=remote"
    filled = {"REMOTE_INSTALL_URL": url, "REMOTE_INSTALL_KEY": key}
    out = []
    for line in lines:
        name = line.split("=", 1)[0]
        if name in filled and "=" in line:
            out.append(f"{name}={filled.pop(name)}")
        else:
            out.append(line)
    assert not filled, f".env.example has no line for {sorted(filled)}"
    text = "\n".join(out) + "\n"
    (checkout / ".env").write_text(text, encoding="utf-8")
    return text


def test_make_run_without_env_says_what_env_needs(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    done = subprocess.run(
        MAKE_RUN, cwd=checkout, env=_env(), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert ".env is missing" in out, out
    assert "Copy .env.example to .env" in out, out
    for needed in ("REMOTE_INSTALL_URL=", ":5003", "REMOTE_INSTALL_KEY="):
        assert needed in out, out
    assert "pip" not in out, f"make run must not reinstall here:\n{out}"
    assert "-m main" not in out, out
    assert not (checkout / ".env").exists()


def test_make_run_and_make_doctor_answer_before_installing_anything(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path, venv=False)
    rc, out = _make(checkout, "run")
    assert rc != 0 and ".env is missing" in out and "Copy .env.example to .env" in out, out
    rc, out = _make(checkout, "doctor")
    assert rc == 2 and "usage: make doctor BASE_URL=" in out, out
    assert not (checkout / ".venv").exists(), "the checks must run before .venv is created"
    assert "pip" not in out


def test_make_run_refuses_the_placeholder_key(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path, venv=False)
    shutil.copy(checkout / ".env.example", checkout / ".env")  # `cp .env.example .env`, not filled in
    rc, out = _make(checkout, "run")
    assert rc != 0, out
    _one_line_failure(out, "REMOTE_INSTALL_KEY in .env is still the placeholder")
    assert "paste-the-debugging-key-here" not in out.replace("make", "")  # the line says what to do instead
    assert not (checkout / ".venv").exists() and "-m main" not in out, out


def test_make_run_with_a_refused_key_says_so_in_one_line(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    with FakeDaemon(refuse=b"handshake failed, invalid key\n") as daemon:
        _fill_env(checkout, f"{daemon.host}:{daemon.port}", KEY)
        rc, out = _make(checkout, "-o", STAMP, "run", timeout=90)
        assert daemon.raw.startswith(b'{"type":"handshake"'), out
    assert rc != 0, out
    _one_line_failure(out, "refused the debugging key")
    assert f"{daemon.host}:{daemon.port}" in out and "REMOTE_INSTALL_KEY" in out, out


def test_make_run_with_nothing_listening_says_so_in_one_line(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    port = free_port()
    _fill_env(checkout, f"127.0.0.1:{port}", KEY)
    rc, out = _make(checkout, "-o", STAMP, "run", timeout=90)
    assert rc != 0, out
    _one_line_failure(out, f"Cannot connect to Dify's plugin daemon at 127.0.0.1:{port}")


def test_make_run_with_env_connects_and_sends_the_key(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    log_path = tmp_path / "make-run.log"
    with FakeDaemon() as daemon:
        _fill_env(checkout, f"{daemon.host}:{daemon.port}", KEY)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                MAKE_RUN,
                cwd=checkout,
                env=_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # make and the plugin share one process group
            )
        try:
            try:
                frames = daemon.wait_registered(timeout=60)
            except AssertionError as exc:
                output = log_path.read_text(encoding="utf-8", errors="replace")
                msg = f"{exc}\nmake run exited with {proc.poll()}; output:\n{output[-4000:]}"
                raise AssertionError(msg) from None
            output = log_path.read_text(encoding="utf-8", errors="replace")
            assert frames[0] == {"type": "handshake", "data": {"key": KEY}}, output[-3000:]
            assert daemon.raw.startswith(b'{"type":"handshake"'), output[-3000:]
            assert frames[1]["type"] == "manifest_declaration", [f.get("type") for f in frames]
            assert frames[1]["data"]["name"] == "openai_compatible_bridge"
            assert frames[2]["type"] == "model_declaration"
            assert frames[-1]["type"] == "end"
            assert proc.poll() is None, f"make run stopped after registering:\n{output[-3000:]}"
            assert "scripts/run_remote.py" in output and ".venv/bin/python -m main" in output, output[-3000:]
            assert "pip" not in output, f"make run must not reinstall here:\n{output[-3000:]}"
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
