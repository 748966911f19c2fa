"""The type checker's escape hatches stay few and explained: `make typecheck` runs mypy (config in
pyproject.toml) over what it checks, and every `# type: ignore` there names the error it silences
and says why (`# type: ignore[code]  # why`)."""

from __future__ import annotations

import re
import tomllib

from tests.support.shared import ROOT

IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<rest>.*)$")
EXPLAINED = re.compile(r"^\[[a-z-]+(, *[a-z-]+)*\]  # \S")


def checked_files() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    files: list[str] = []
    for entry in config["files"]:
        path = ROOT / entry
        files += [str(p.relative_to(ROOT)) for p in sorted(path.rglob("*.py"))] if path.is_dir() else [entry]
    return files


def test_mypy_checks_the_plugin_its_scripts_and_main() -> None:
    files = checked_files()
    assert "main.py" in files
    for package in ("oai_bridge/", "models/", "scripts/"):
        assert any(f.startswith(package) for f in files), package


def test_every_type_ignore_names_its_error_and_says_why() -> None:
    unexplained = [
        f"{name}:{number}: {line.strip()}"
        for name in checked_files()
        for number, line in enumerate((ROOT / name).read_text(encoding="utf-8").splitlines(), 1)
        if (found := IGNORE.search(line)) and not EXPLAINED.match(found["rest"])
    ]
    assert not unexplained, "write `# type: ignore[code]  # why`:\n" + "\n".join(unexplained)
