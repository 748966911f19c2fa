"""`make run`: check `.env`, then run `python -m main` in remote-debug mode, attached to a Dify.

    python scripts/run_remote.py           check .env, then start the plugin (stops with it)
    python scripts/run_remote.py --check   only check .env (what `make run` does before it
                                           installs anything; needs nothing but the stdlib)

`python -m main` itself is left as Dify's daemon runs it. This launcher only adds what a person
at a terminal needs: a `.env` that is missing, or still holds the placeholder key from
`.env.example`, is one clear line before anything starts; a debug connection the daemon refuses
("handshake failed, invalid key") or that cannot be made (nothing listening on the port) is one
line, not the SDK's tracebacks and endless reconnects. Everything else the plugin prints is
passed through unchanged.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER_KEY = "paste-the-debugging-key-here"  # what .env.example ships with
WHERE = "on your Dify's Plugins page (the bug icon, 'Debugging')"

MISSING_ENV = (
    ".env is missing. Copy .env.example to .env and fill in, from your Dify's Plugins page "
    "(the bug icon, 'Debugging'):\n"
    "  REMOTE_INSTALL_URL=<dify host>:5003  REMOTE_INSTALL_KEY=<debug key>"
)
# What the SDK logs when the connection fails (dify_plugin 0.10.2 core/server/tcp/request_reader.py).
_REFUSED_KEY = re.compile(r"handshake failed|invalid key", re.I)
_NO_CONNECTION = re.compile(r"Failed to connect to (\S+?):(\d+)")
# The daemon closes the socket when it refuses the key; the SDK may hit the closed socket with its
# next write before it reads the refusal, and then says only this.
_CLOSED_AT_HANDSHAKE = re.compile(r"Failed to write data|Broken pipe|Connection reset", re.I)
_CONNECTED = re.compile(r"Connected to \S+:\d+")


def say(text: str, *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as pydantic-settings reads them (comments, blanks and quotes handled)."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        name = name.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def check_env(root: Path = ROOT, environ: dict[str, str] | None = None) -> tuple[str | None, str]:
    """(the one-paragraph problem or None, the daemon address). The environment wins over
    `.env`, as it does for the SDK."""
    environ = dict(os.environ if environ is None else environ)
    env_file = root / ".env"
    if not env_file.is_file():
        return MISSING_ENV, ""
    values = {**read_env_file(env_file), **{k: v for k, v in environ.items() if k.startswith(("REMOTE_", "INSTALL_"))}}
    if values.get("INSTALL_METHOD", "").lower() != "remote":
        return ".env must set INSTALL_METHOD=remote (as .env.example does) for remote debugging.", ""
    key = values.get("REMOTE_INSTALL_KEY", "").strip()
    if not key or key == PLACEHOLDER_KEY:
        return (
            f"REMOTE_INSTALL_KEY in .env is still the placeholder: paste the debugging key shown {WHERE}.",
            "",
        )
    url = values.get("REMOTE_INSTALL_URL", "").strip()
    if url:
        address = url
    elif values.get("REMOTE_INSTALL_HOST") and values.get("REMOTE_INSTALL_PORT"):
        address = f"{values['REMOTE_INSTALL_HOST']}:{values['REMOTE_INSTALL_PORT']}"
    else:
        return f"REMOTE_INSTALL_URL is missing in .env: set it to <dify host>:5003, as shown {WHERE}.", ""
    if "://" in address or "/" in address or not re.fullmatch(r"\[?[^\s\[\]]+\]?:\d+", address):
        return (
            f"REMOTE_INSTALL_URL={address} is not host:port. Write it without a scheme or path, "
            "e.g. localhost:5003 (Dify's debug port).",
            "",
        )
    return None, address


def _failure(line: str, address: str, connected: bool) -> str | None:
    """The one line to print when the plugin's output shows a failed debug connection. Once a
    connection worked, a lost one is left to the SDK, which reconnects (Dify restarting)."""
    if _REFUSED_KEY.search(line) or (not connected and _CLOSED_AT_HANDSHAKE.search(line)):
        return (
            f"Dify's plugin daemon at {address} refused the debugging key (it closed the connection at the "
            "handshake): "
            f"copy the current key shown {WHERE} into REMOTE_INSTALL_KEY in .env; it belongs to one workspace "
            "and changes when it is regenerated."
        )
    match = _NO_CONNECTION.search(line)
    if match and not connected:
        return (
            f"Cannot connect to Dify's plugin daemon at {match.group(1)}:{match.group(2)}: nothing accepts "
            "connections there. Check REMOTE_INSTALL_URL in .env, that Dify is running, and that its debug "
            "port (5003, EXPOSE_PLUGIN_DEBUGGING_PORT) is reachable from this machine."
        )
    return None


def run(root: Path = ROOT) -> int:
    problem, address = check_env(root)
    if problem:
        say(problem, err=True)
        return 1
    command = [sys.executable, "-m", "main"]
    say(f"Starting the plugin for {address}: {' '.join(command)}  (Ctrl-C stops it)")
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # lines as they happen, not when a buffer fills
    proc = subprocess.Popen(command, cwd=str(root), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    connected = False
    try:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            connected = connected or bool(_CONNECTED.search(line))
            failure = _failure(line, address, connected)
            if failure:
                proc.kill()
                proc.wait()
                say(failure, err=True)
                return 1
            sys.stdout.write(line)
            sys.stdout.flush()
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 130


def main(argv: list[str]) -> int:
    if argv[1:] == ["--check"]:
        problem, _ = check_env()
        if problem:
            say(problem, err=True)
            return 1
        return 0
    if argv[1:]:
        say("usage: python scripts/run_remote.py [--check]", err=True)
        return 2
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
