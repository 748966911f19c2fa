"""A clone on anyone's machine: no path of a developer's machine in the repository, and test data
the project may not redistribute is skipped where absent, except under CI where it must be there."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support import shared

ROOT = Path(__file__).resolve().parents[2]
# Absolute paths of a particular machine (home folders, this project's work folders, temp dirs).
MACHINE_PATH = re.compile(r"(?<![\w.~/-])/(?:work|root|home|Users|tmp|mnt|srv)/[\w.-]+")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = [ROOT / name for name in listed.decode().split("\0") if name]
    return [f for f in files if f.is_file() and b"\0" not in f.read_bytes()[:4096]]


def test_no_machine_paths_in_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in tracked_text_files()
        if path.name != Path(__file__).name
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if MACHINE_PATH.search(line)
    ]
    assert not found, "\n".join(found)


@pytest.fixture
def no_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(shared.SIGNING_FIXTURES_ENV, str(tmp_path / "absent"))


def test_absent_signing_fixture_skips_with_one_line_outside_ci(no_fixture: None, monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        shared.signing_fixtures()
    assert "\n" not in str(skipped.value) and "not found" in str(skipped.value)


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_absent_signing_fixture_fails_under_ci(no_fixture: None, monkeypatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI=true requires it"):
        shared.signing_fixtures()


def test_fixture_is_found_through_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in shared.SIGNING_FIXTURE_FILES:
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setenv(shared.SIGNING_FIXTURES_ENV, str(tmp_path))
    monkeypatch.setenv("CI", "true")
    assert shared.signing_fixtures() == tmp_path


def test_ci_entry_point_exports_ci() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^export CI=true$", script, re.M)
    assert script.index("export CI=true") < script.index("make test")
