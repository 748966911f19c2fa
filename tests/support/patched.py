"""Run a snippet in a fresh interpreter that imports ``dify_plugin`` first, as the plugin does (so
it is gevent-patched exactly like a plugin process), from the checkout's root."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support.shared import ROOT


def run_patched(code: str, *, timeout: float = 50) -> list[str]:
    """The snippet's stdout lines; a failure shows its stderr."""
    done = subprocess.run(
        [sys.executable, "-c", "import dify_plugin\n" + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()
