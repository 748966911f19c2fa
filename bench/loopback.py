"""The orchestrator's handle on the loopback server (``bench/server.py``), run in its own process
so that no CPU figure includes the server's."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from typing import Any

from bench.plugins import REPO
from bench.procfs import proc_cpu


class BenchServer:
    def __init__(self, models: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.server", "--models", ",".join(models)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"bench server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        """The server process's CPU so far, in seconds."""
        return proc_cpu(self.pid)

    def stats(self) -> dict[str, Any]:
        """What the server has received so far (``GET /stats``)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as response:
            return json.load(response)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
