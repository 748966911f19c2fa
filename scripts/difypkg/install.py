"""Install an unpacked package the way Dify's plugin daemon does, and start it the serverless way.

The daemon (dify-plugin-daemon, ``internal/core/local_runtime/setup_python_environment.go``) runs
``uv venv .venv --python 3.12``, then ``uv pip install -r requirements.txt`` with
``VIRTUAL_ENV=<dir>/.venv`` (``uv sync`` only when a pyproject.toml is packed), pre-compiles with
``python -m compileall .`` and imports ``dify_plugin`` once. The Marketplace's install test then
runs ``python -m main`` with ``INSTALL_METHOD=serverless``, ``SERVERLESS_HOST=0.0.0.0``,
``SERVERLESS_PORT=8080``, expects ``Serving Flask app`` within 20 s and ``GET /`` to answer 200
or 404.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from difypkg.errors import PackageError

INSTALL_LIMIT = 600  # the daemon kills the dependency install after 10 minutes
SERVE_LIMIT = 20.0  # the Marketplace's wait for "Serving Flask app"
SERVING = "Serving Flask app"
MARKETPLACE_PORT = 8080
NETWORK_VARS = {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR"}
_DROPPED = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}


def find_uv() -> str:
    """The ``uv`` the daemon installs with: on PATH or beside this interpreter."""
    for candidate in (shutil.which("uv"), Path(sys.prefix) / "bin" / "uv", Path(sys.executable).parent / "uv"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise PackageError(
        "uv is not installed: it is what Dify's daemon installs plugins with. "
        "It comes with requirements-dev.txt (`make venv`), or `.venv/bin/pip install uv`."
    )


def network_env() -> dict[str, str]:
    """What uv needs from this machine to reach PyPI (proxies, the CA bundle, uv settings)."""
    env = {k: v for k, v in os.environ.items() if k.upper() in NETWORK_VARS or k.startswith("UV_")}
    cert = os.environ.get("SSL_CERT_FILE") or os.environ.get("PIP_CERT") or os.environ.get("REQUESTS_CA_BUNDLE")
    if cert and Path(cert).is_file():
        env["SSL_CERT_FILE"] = cert  # the trust pip is configured with on this machine
    return env


def clean_env() -> dict[str, str]:
    """This environment without another virtualenv's settings."""
    return {k: v for k, v in os.environ.items() if k not in _DROPPED}


def _step(step: str, args: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> float:
    started = time.monotonic()
    try:
        done = subprocess.run(
            args,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise PackageError(f"{step} did not finish within {timeout:.0f}s") from exc
    if done.returncode != 0:
        raise PackageError(f"{step} failed (rc={done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.monotonic() - started


def install(plugin_dir: Path, *, uv: str | None = None) -> dict[str, float]:
    """The daemon's install steps in ``plugin_dir``; returns each step's seconds."""
    uv = uv or find_uv()
    base_env = clean_env()
    timings: dict[str, float] = {}
    # Dify's image has Python 3.12 on PATH; here this interpreter's base install is put first
    # (pyenv shims only answer inside a checkout), and uv must not download a Python.
    venv_env = dict(base_env, **network_env())
    venv_env["PATH"] = os.pathsep.join([str(Path(sys.base_prefix) / "bin"), venv_env.get("PATH", "")])
    venv_env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    timings["uv venv"] = _step(
        "uv venv", [uv, "venv", ".venv", "--python", "3.12"], cwd=plugin_dir, env=venv_env, timeout=120
    )
    # The daemon's sparse environment: VIRTUAL_ENV, PATH and its proxies (HOME and XDG_CACHE_HOME
    # keep uv's cache, so reruns are fast).
    pip_env = {"VIRTUAL_ENV": str(plugin_dir / ".venv"), "PATH": os.environ.get("PATH", ""), **network_env()}
    for key in ("HOME", "XDG_CACHE_HOME"):
        if key in os.environ:
            pip_env[key] = os.environ[key]
    timings["uv pip install"] = _step(
        "uv pip install -r requirements.txt",
        [uv, "pip", "install", "-r", "requirements.txt"],
        cwd=plugin_dir,
        env=pip_env,
        timeout=INSTALL_LIMIT,
    )
    python = str(venv_python(plugin_dir))
    timings["compileall"] = _step(
        "python -m compileall .", [python, "-m", "compileall", "-q", "."], cwd=plugin_dir, env=base_env, timeout=300
    )
    timings["import dify_plugin"] = _step(
        "import dify_plugin", [python, "-c", "import dify_plugin"], cwd=plugin_dir, env=base_env, timeout=120
    )
    return timings


def venv_python(plugin_dir: Path) -> Path:
    return plugin_dir / ".venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_check(plugin_dir: Path, *, strict: bool = False, limit: float = SERVE_LIMIT) -> str:
    """Start the installed plugin serverless, wait for ``Serving Flask app``, ``GET /``.

    ``strict`` uses the Marketplace's host and port (0.0.0.0:8080); otherwise a free loopback
    port, so two runs on one machine do not collide. Returns a one-line summary; raises
    ``PackageError`` with the plugin's output when a step fails.
    """
    host, port = ("0.0.0.0", MARKETPLACE_PORT) if strict else ("127.0.0.1", free_port())
    env = dict(clean_env(), INSTALL_METHOD="serverless", SERVERLESS_HOST=host, SERVERLESS_PORT=str(port))
    proc = subprocess.Popen(
        [str(venv_python(plugin_dir)), "-m", "main"],
        cwd=plugin_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output: list[str] = []
    serving = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            output.append(raw.decode("utf-8", errors="replace"))
            if SERVING in output[-1]:
                serving.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        while not serving.wait(0.1):
            if proc.poll() is not None or time.monotonic() - started > limit:
                break
        if not serving.is_set():
            reader.join(1)
            why = f"exited with {proc.returncode}" if proc.poll() is not None else f"did not within {limit:.0f}s"
            raise PackageError(f"python -m main (serverless) {why} print '{SERVING}':\n{''.join(output)[-3000:]}")
        took = time.monotonic() - started
        status = _get_status(f"http://127.0.0.1:{port}/")
        if status not in (200, 404):
            raise PackageError(f"GET http://127.0.0.1:{port}/ answered {status}, expected 200 or 404")
        return f"'{SERVING}' after {took:.1f}s on {host}:{port}; GET / answered {status}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        reader.join(5)


def _get_status(url: str, attempts: int = 20) -> int | str:
    """The HTTP status of ``GET url``, retried briefly while the socket comes up. Asked directly,
    never through a proxy from the environment (which would answer for the plugin)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    error: object = None
    for _ in range(attempts):
        try:
            with opener.open(url, timeout=5) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError) as exc:
            error = exc
            time.sleep(0.25)
    return f"no answer ({error})"
