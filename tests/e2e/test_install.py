"""Install the built .difypkg the way Dify's plugin daemon does, then use it for real.

The daemon (dify-plugin-daemon, internal/core/local_runtime/setup_python_environment.go):
unpacks the package, runs ``uv venv .venv --python 3.12``, then ``uv pip install -r
requirements.txt`` with ``VIRTUAL_ENV=<dir>/.venv`` (``uv sync`` only when a pyproject.toml is
packed), pre-compiles with ``python -m compileall .`` (failures only logged), imports
``dify_plugin`` once, and launches ``.venv/bin/python -m main`` with cwd = the plugin directory
and ``INSTALL_METHOD=local``. This test does the same against PyPI (uv's default cache makes
reruns fast) and then talks to the installed plugin over stdio: heartbeat, a streamed chat and an
embedding call against the real llama-server peer.

Needs ``uv`` (requirements-dev.txt) and network access to PyPI; it fails, never skips, without
them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from difypkg import install
from difypkg.errors import PackageError

from tests.support.plugin_process import PluginProcess

pytestmark = [pytest.mark.llama, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "package.py"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    """The package built by scripts/package.py, unpacked and installed like the daemon does
    (difypkg.install, which `make precheck` runs too)."""
    work = tmp_path_factory.mktemp("install")
    built = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(work / "dist")],
        cwd=ROOT,
        env=install.clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    packages = list((work / "dist").glob("*.difypkg"))
    assert len(packages) == 1, packages

    plugin_dir = work / "plugin"
    with zipfile.ZipFile(packages[0]) as archive:
        assert not [n for n in archive.namelist() if n.endswith("/") or n.startswith("/") or ".." in n.split("/")]
        archive.extractall(plugin_dir)
    assert not (plugin_dir / "pyproject.toml").exists(), "the daemon would run `uv sync` instead of requirements.txt"
    assert (plugin_dir / "requirements.txt").is_file()
    assert sys.version_info[:2] == (3, 12), "the tests run on Python 3.12, like Dify's plugins"
    try:
        timings = install.install(plugin_dir)
    except PackageError as exc:
        pytest.fail(str(exc), pytrace=False)
    assert install.venv_python(plugin_dir).exists()
    return plugin_dir, timings


@pytest.fixture(scope="module")
def installed_plugin(installed: tuple[Path, dict[str, float]]):
    plugin_dir, _ = installed
    proc = PluginProcess(
        root=plugin_dir,
        python=str(plugin_dir / ".venv" / "bin" / "python"),
        env={"INSTALL_METHOD": "local", "PYTHONPATH": None, "PYTHONHOME": None, "VIRTUAL_ENV": None},
        start_timeout=120,
    )
    try:
        yield proc
    finally:
        proc.close()


def test_install_takes_less_than_the_daemons_limit(installed: tuple[Path, dict[str, float]]) -> None:
    _, timings = installed
    print("install steps (s):", {step: round(seconds, 1) for step, seconds in timings.items()})  # shown with -s
    assert timings["uv pip install"] < install.INSTALL_LIMIT, timings


def test_the_venv_holds_the_runtime_dependencies_only(installed: tuple[Path, dict[str, float]]) -> None:
    plugin_dir, _ = installed
    python = plugin_dir / ".venv" / "bin" / "python"
    probe = (
        "import importlib.metadata as m, sys, dify_plugin, openai, httpx, yaml, tenacity;"
        "print(sys.version_info[:2] == (3, 12));"
        "print(dify_plugin.__file__.startswith(sys.prefix));"
        "print(m.version('dify_plugin')); print(m.version('openai')); print(m.version('httpx'));"
        "print(any(d.metadata['Name'].lower() in {'pytest', 'ruff', 'hypothesis'} for d in m.distributions()))"
    )
    out = subprocess.run(
        [str(python), "-c", probe],
        cwd=plugin_dir,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    in_312, own_copy, sdk, openai_version, httpx_version, dev_tools = out
    assert in_312 == "True"
    assert own_copy == "True"  # imported from the plugin's own venv
    assert sdk.startswith("0.10.")
    assert openai_version.split(".")[0] == "2"
    assert httpx_version.startswith("0.28.")
    assert dev_tools == "False"


def test_installed_plugin_starts_and_sends_heartbeats(installed_plugin: PluginProcess) -> None:
    manifest = installed_plugin.manifest
    assert manifest["name"] == "openai_compatible_bridge"
    assert manifest["meta"]["runner"]["entrypoint"] == "main"
    at = installed_plugin.wait_heartbeat(timeout=60)
    assert at < 120  # the daemon's first-heartbeat deadline
    assert installed_plugin.alive
    assert not installed_plugin.noise, installed_plugin.noise


def test_installed_plugin_streams_a_real_chat_answer(installed_plugin: PluginProcess, llama_server) -> None:
    result = installed_plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials={"base_url": llama_server.base_url, "mode": "chat"},
        prompt_messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        model_parameters={"max_tokens": 12, "temperature": 0},
        stream=True,
        timeout=120,
    ).raise_for_error()
    assert result.text.strip()
    assert len(result.chunks) > 1  # streamed, not buffered
    usage = result.usage
    assert usage is not None
    assert usage["prompt_tokens"] > 5
    assert 0 < usage["completion_tokens"] <= 12
    assert result.finish_reason in ("length", "stop")


def test_installed_plugin_embeds_texts(installed_plugin: PluginProcess, llama_server) -> None:
    texts = ["Paris is the capital of France.", "Rome is in Italy.", "hello"]
    result = installed_plugin.invoke(
        "invoke_text_embedding",
        model="tiny",
        credentials={"base_url": llama_server.base_url},
        texts=texts,
        input_type="document",
        timeout=120,
    ).result
    vectors = result["embeddings"]
    assert len(vectors) == len(texts)
    assert {len(v) for v in vectors} == {64}
    assert all(any(x != 0 for x in v) for v in vectors)
    assert vectors[0] != vectors[1]
    assert result["usage"]["tokens"] > 0
