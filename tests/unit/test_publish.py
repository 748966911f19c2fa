"""A Marketplace build (`make package REPO=… CONTACT=… AUTHOR=…` or marketplace.toml): the values land
in the packaged manifest, the README link and the provider's help; missing or invalid values stop
the build saying what to set; a plain build stays as it was; the checkout holds no invented owner."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest
import yaml
from difypkg import rules
from difypkg.ignore import collect_files

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from dify_plugin.core.entities.plugin.setup import PluginConfiguration
    from dify_plugin.entities.model.provider import ModelProviderConfiguration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "package.py"
PROVIDER = "provider/openai_compatible_bridge.yaml"
REPO, CONTACT, AUTHOR = "https://github.com/test-owner/test-repo", "test@example.invalid", "test-author"


@pytest.fixture
def plugin_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "plugin"
    for rel in [*collect_files(ROOT), ".difyignore"]:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, dest / rel)
    return dest


def package(root: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def built(done: subprocess.CompletedProcess[str]) -> dict[str, bytes]:
    assert done.returncode == 0, done.stderr
    return contents(Path(done.stdout.splitlines()[0]))


def test_values_land_in_manifest_readme_and_provider_help(plugin_copy: Path, tmp_path: Path) -> None:
    files = built(package(plugin_copy, tmp_path / "out", "--repo", REPO, "--contact", CONTACT, "--author", AUTHOR))
    manifest = yaml.safe_load(files["manifest.yaml"])
    assert (manifest["author"], manifest["repo"], manifest["contact"]) == (AUTHOR, REPO, CONTACT)
    readme = files["README.md"].decode()
    assert readme.startswith("# OpenAI-Compatible Bridge\n\n") and f": {REPO}\n" in readme.split("\n\n", 2)[1] + "\n"
    provider = yaml.safe_load(files[PROVIDER])
    assert provider["help"]["url"] == {"en_US": REPO}
    assert set(provider["help"]["title"]) == set(rules.I18N_LANGS)
    # Everything else is byte for byte the checkout's.
    plain = built(package(plugin_copy, tmp_path / "plain"))
    assert {n for n in files if files[n] != plain[n]} == {"manifest.yaml", "README.md", PROVIDER}
    assert set(files) == set(plain)


def test_the_marketplace_declarations_pass_the_daemon_and_sdk_rules(plugin_copy: Path, tmp_path: Path) -> None:
    files = built(package(plugin_copy, tmp_path / "out", "--repo", REPO, "--contact", CONTACT, "--author", AUTHOR))
    manifest = rules.load_yaml(_write(tmp_path / "m.yaml", files["manifest.yaml"]))
    provider = rules.load_yaml(_write(tmp_path / "p.yaml", files[PROVIDER]))
    assert rules.manifest_errors(manifest) == []
    assert rules.provider_errors(provider) == []
    assert PluginConfiguration.model_validate(yaml.safe_load(files["manifest.yaml"])).author == AUTHOR
    provider_config = ModelProviderConfiguration.model_validate(yaml.safe_load(files[PROVIDER]))
    assert provider_config.help is not None and provider_config.help.url.en_us == REPO


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_values_from_marketplace_toml_and_command_line_overrides(plugin_copy: Path, tmp_path: Path) -> None:
    (plugin_copy / "marketplace.toml").write_text(
        f'repo = "{REPO}"\ncontact = "{CONTACT}"\nauthor = "{AUTHOR}"\n', encoding="utf-8"
    )
    files = built(package(plugin_copy, tmp_path / "out", "--author", "other-account"))
    manifest = yaml.safe_load(files["manifest.yaml"])
    assert (manifest["author"], manifest["repo"], manifest["contact"]) == ("other-account", REPO, CONTACT)
    assert "marketplace.toml" not in files


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (["--marketplace"], "REPO, CONTACT, AUTHOR"),
        (["--repo", REPO], "CONTACT, AUTHOR"),
        (["--contact", CONTACT, "--author", AUTHOR], "REPO"),
    ],
)
def test_an_incomplete_marketplace_build_says_what_to_set(
    plugin_copy: Path, tmp_path: Path, args: list[str], missing: str
) -> None:
    done = package(plugin_copy, tmp_path / "out", *args)
    assert done.returncode == 1 and not (tmp_path / "out").exists()
    assert f"a Marketplace build needs {missing}:" in done.stderr
    assert "make package REPO=" in done.stderr and "marketplace.toml" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--repo", "https://example.com/me/repo", "is not a repository URL on github.com"),
        ("--contact", "me at example", "is not an e-mail address"),
        ("--author", "Dify-Fan", "must match"),
        ("--author", "langgenius-tools", "author must not contain 'langgenius'"),
    ],
)
def test_invalid_values_are_refused(plugin_copy: Path, tmp_path: Path, flag: str, value: str, message: str) -> None:
    values = {"--repo": REPO, "--contact": CONTACT, "--author": AUTHOR, flag: value}
    done = package(plugin_copy, tmp_path / "out", *[x for pair in values.items() for x in pair])
    assert done.returncode == 1 and message in done.stderr, done.stderr


def test_marketplace_toml_with_unknown_keys_is_refused(plugin_copy: Path, tmp_path: Path) -> None:
    (plugin_copy / "marketplace.toml").write_text('repository = "x"\n', encoding="utf-8")
    done = package(plugin_copy, tmp_path / "out")
    assert done.returncode == 1 and "unknown keys ['repository']" in done.stderr


def test_a_plain_build_carries_no_publishing_values(tmp_path: Path) -> None:
    files = built(package(ROOT, tmp_path / "out"))
    manifest = yaml.safe_load(files["manifest.yaml"])
    assert "repo" not in manifest and "contact" not in manifest
    assert "help" not in yaml.safe_load(files[PROVIDER])


def test_the_checkout_names_no_repository_owner_or_address() -> None:
    # The provider's help link pointed at a repository that does not exist: links to the
    # project's own repository are written at build time only.
    for rel in ("manifest.yaml", PROVIDER, "README.md", "PRIVACY.md"):
        text = (ROOT / rel).read_text(encoding="utf-8")
        assert not re.search(r"https?://(www\.)?(github\.com|gitlab\.com)/oai-bridge", text), rel
    assert "help" not in yaml.safe_load((ROOT / PROVIDER).read_text(encoding="utf-8"))
    assert "marketplace.toml" in (ROOT / ".gitignore").read_text(encoding="utf-8")


def test_staged_build_leaves_the_checkout_untouched(plugin_copy: Path, tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in plugin_copy.rglob("*") if p.is_file()}
    built(package(plugin_copy, tmp_path / "out", "--repo", REPO, "--contact", CONTACT, "--author", AUTHOR))
    after = {p: p.read_bytes() for p in plugin_copy.rglob("*") if p.is_file()}
    assert before == after
