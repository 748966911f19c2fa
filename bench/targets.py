"""Which plugin is measured (this checkout, a commit, a directory), the throwaway SDK plugins
it is compared with, and how a worker subprocess runs against it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plugins import REPO, make_plugin


def git(*args: str) -> str:
    """A git command's stdout in this repository ("" if git is missing)."""
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return ""
    return out.stdout.strip()


@dataclass(frozen=True)
class Target:
    """The plugin under test: a directory with main.py, and how to name it in the report."""

    root: Path
    label: str
    flag: str = ""
    """The command-line option that selected it (for the docs)."""

    def env(self) -> dict[str, str]:
        """Workers run with cwd = the plugin root (its `models` package wins) and find `bench`
        through PYTHONPATH."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        return env

    def run_worker(self, module: str, args: Sequence[str]) -> dict[str, Any]:
        """Run ``python -m module args`` against this plugin and return the JSON it prints."""
        out = subprocess.run(
            [sys.executable, "-m", module, *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{module} {' '.join(args[:2])} failed:\n{out.stderr[-4000:]}")
        return json.loads(out.stdout)

    def constant(self, module: str, name: str, default: Any) -> Any:
        """A module-level constant of the plugin under test (read in a subprocess, since importing
        the plugin imports dify_plugin), or `default` if it is not there."""
        code = f"import json, {module} as m; print(json.dumps(getattr(m, {name!r}, None)))"
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=self.root, env=self.env(), capture_output=True, text=True, timeout=120
        )
        value = json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else None
        return default if value is None else value


@dataclass(frozen=True)
class Plugins:
    target: Target
    minimal_root: Path
    """A minimal SDK plugin: trivial model classes, same manifest, provider YAML and entry point."""
    sdk_root: Path
    """The SDK's `OAICompatLargeLanguageModel` in a plugin with this plugin's manifest."""
    sdk_rerank_root: Path
    """The SDK's `OAICompatRerankModel`, alone, in a plugin with this plugin's manifest."""
    minimal_stt_root: Path
    """A speech-to-text class that answers without reading the upload (the SDK's transport alone)."""
    stdio_rerank_root: Path
    """A rerank class that ranks without HTTP (Dify's stdio runtime alone, for section 6)."""
    stdio_embed_root: Path
    """A multimodal embedding class that answers without HTTP (the same, for section 7)."""


def _target(tmp: Path, commit: str | None, plugin_root: Path | None) -> Target:
    if commit:
        # `git archive` only reads the repository: the commit's tree, without touching the work tree.
        rev = git("rev-parse", "--short", commit)
        if not rev:
            raise SystemExit(f"unknown commit {commit!r}")
        root = tmp / "plugin"
        root.mkdir()
        archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
        return Target(root, f"commit {rev} (exported with `git archive`)", f" --commit {commit}")
    if plugin_root:
        return Target(plugin_root.resolve(), f"the tree at {plugin_root}", f" --plugin-root {plugin_root}")
    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "oai_bridge", "models", "provider", "main.py")
    changed = len([line for line in dirty.splitlines() if line.strip()])
    suffix = f" + uncommitted changes in {changed} plugin file(s)" if changed else ""
    return Target(REPO, f"this checkout: commit {rev}{suffix}")


@contextlib.contextmanager
def plugins(commit: str | None, plugin_root: Path | None) -> Iterator[Plugins]:
    """The plugin under test and the throwaway SDK plugins, in a temp folder."""
    with tempfile.TemporaryDirectory(prefix="oaib-bench-") as tmp:
        target = _target(Path(tmp), commit, plugin_root)
        yield Plugins(
            target,
            make_plugin(Path(tmp) / "minimal", "minimal", target.root),
            make_plugin(Path(tmp) / "sdk_llm", "sdk_llm", target.root),
            make_plugin(Path(tmp) / "sdk_rerank", "sdk_rerank", target.root),
            make_plugin(Path(tmp) / "minimal_stt", "minimal_stt", target.root),
            make_plugin(Path(tmp) / "stdio_rerank", "stdio_rerank", target.root),
            make_plugin(Path(tmp) / "stdio_embed", "stdio_embed", target.root),
        )
