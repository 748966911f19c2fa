"""`make run`, as README.md and docs/quickstart.md tell users to run it from a checkout:

    cp .env.example .env      (then fill in REMOTE_INSTALL_URL and REMOTE_INSTALL_KEY)
    make run

Without a `.env` it must stop and say what `.env` needs. With one, it must start the plugin in
remote-debug mode, which connects to the address in `.env` and hands over the key (the
handshake), then registers like the daemon expects and keeps running.

Each test runs make in a copy of the checkout (so the developer's own `.env` is never read or
touched) whose `.venv` is a symlink to the virtualenv running these tests. make is called with
`-o .venv/.installed` ("treat the install stamp as old, never remake it"): the Makefile
reinstalls the requirements when they are newer than that stamp, and a test must never install
into the shared virtualenv. Everything else is the `run` target exactly as written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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


def _checkout(tmp_path: Path) -> Path:
    """A copy of the working tree without `.env`, `.venv`, tests or caches, plus `.env.example`,
    with `.venv` linked to the virtualenv running the tests."""
    venv = Path(sys.prefix)
    if venv == Path(sys.base_prefix) or not (venv / "bin" / "python").exists():
        pytest.fail(f"run the tests from the project's virtualenv (make test), not {sys.executable}")
    checkout = clean_plugin_copy(REPO_ROOT, tmp_path / "checkout")
    shutil.copy2(REPO_ROOT / ".env.example", checkout / ".env.example")
    (checkout / ".venv").symlink_to(venv, target_is_directory=True)
    assert (checkout / "Makefile").is_file() and not (checkout / ".env").exists()
    return checkout


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
            assert ".venv/bin/python -m main" in output, output[-3000:]
            assert "pip" not in output, f"make run must not reinstall here:\n{output[-3000:]}"
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
