"""`make demo`, as README.md's quick start tells users to run it first.

The demo (scripts/demo.py) builds and starts the real llama-server peer with its tiny models,
runs the plugin over stdio as Dify's daemon does, and prints each thing Dify would get. This
runs the `demo` target exactly as written, in this checkout, with the virtualenv running the
tests as its `PY` and `-o .venv/.installed` so it never installs anything.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from tests.support.plugin_process import REPO_ROOT

STAMP = ".venv/.installed"
_MAKE_VARS = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")

SECTIONS = (
    "== 1. The model servers",
    "== 2. The plugin, started as Dify's daemon starts it",
    "== 3. A streamed chat answer",
    "== 4. A tool call",
    "== 5. A structured answer",
    "== 6. Embeddings",
    "== 7. A rerank",
    "== 8. The same model over OpenAI's Responses API",
    "== What this shows",
)


@pytest.mark.llama
@pytest.mark.timeout(2400)  # a first build of the peer takes about 7 minutes on 2 cores
def test_make_demo_shows_every_model_action_and_exits_0() -> None:
    env = {key: value for key, value in os.environ.items() if key not in _MAKE_VARS}
    done = subprocess.run(
        ["make", "-o", STAMP, "demo", f"PY={sys.executable}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=2300,
        stdin=subprocess.DEVNULL,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    assert "scripts/demo.py" in out
    positions = [out.find(title) for title in SECTIONS]
    assert -1 not in positions and positions == sorted(positions), out
    assert "Traceback" not in out and "pip" not in out, out

    # the values Dify saves when each model is added
    for saved in ("_detected_tool_calling = true", "_detected_dimensions = 64", "_detected_rerank_path = /v1/rerank"):
        assert saved in out, out
    # a streamed answer with usage, a tool call, a structured answer, embeddings, a rerank
    assert re.search(r"usage +prompt_tokens=\d+ completion_tokens=\d+ total_tokens=\d+", out), out
    assert re.search(r'tool call +id=\S+ get_weather\(\{"city": "(Paris|Rome)", "unit": "[cf]"\}\)', out), out
    assert re.search(r'answer \(parsed JSON\) +\{"ok": (true|false)\}', out), out
    assert re.search(r"vectors +3, of 64 numbers each", out), out
    assert len(re.findall(r"#\d score +-?\d+\.\d{4}  ", out)) == 3, out
    assert re.search(r"usage \(response\.completed\) +input_tokens=\d+ output_tokens=\d+", out), out
    # what it says about the tiny model, and that it cleaned up
    assert "random weights" in out and "Everything" in out, out
    assert out.rstrip().endswith("Demo finished."), out[-2000:]


def test_a_failed_demo_is_one_paragraph_and_non_zero(monkeypatch, capsys) -> None:
    spec = importlib.util.spec_from_file_location("demo_script", REPO_ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)

    def broken() -> None:
        demo.step("Starting llama-server", lambda: (_ for _ in ()).throw(OSError("port in use")))

    monkeypatch.setattr(demo, "run", broken)
    assert demo.main() == 1
    out = capsys.readouterr().out.strip()
    assert out == "The demo stopped: Starting llama-server failed: port in use", out
