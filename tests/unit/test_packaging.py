"""scripts/package.py builds the .difypkg like `dify plugin package`: .difyignore semantics of the
CLI's walk (go-git gitignore patterns), the CLI's checks, its size limit, and a reproducible zip
that holds exactly what the daemon needs."""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from difypkg import rules

from tests.unit.test_docs import relative_links

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "package.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("oaib_package_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pkg = _load_script()


def ignore(text: str) -> pkg.IgnoreRules:
    return pkg.IgnoreRules.parse(text)


def make_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def plugin_copy(tmp_path: Path) -> Path:
    """A copy of this plugin's packable files plus its .difyignore (the checkout stays untouched)."""
    dest = tmp_path / "plugin"
    for rel in [*pkg.collect_files(ROOT), ".difyignore"]:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, target)
    return dest


def entries(path: Path) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as archive:
        return archive.infolist()


def names(path: Path) -> list[str]:
    return [info.filename for info in entries(path)]


# --- ignore semantics (go-git gitignore patterns in the CLI's walk) ---------------------------
def test_blank_lines_comments_and_surrounding_spaces() -> None:
    r = ignore("\n# a comment\n   \n  *.log  \r\n#not-a-pattern.txt\n")
    assert [p.line for p in r.patterns] == ["*.log"]
    assert not r.is_packed("x.log")
    assert r.is_packed("#not-a-pattern.txt")


def test_negation_never_reincludes_first_match_wins() -> None:
    r = ignore("*.log\n!keep.log\n.env\n!.env\n")
    assert not r.is_packed("keep.log")
    assert not r.is_packed("sub/keep.log")
    assert not r.is_packed(".env")
    # the match that excludes is the first excluding line; nothing after it can undo it
    assert r.first_match("keep.log").line == "*.log"


def test_negation_alone_excludes_nothing() -> None:
    r = ignore("!important.txt\n!/docs/\n")
    assert r.is_packed("important.txt")
    assert r.is_packed("docs/a.md")


def test_negated_parent_cannot_rescue_a_file_under_an_ignored_directory() -> None:
    r = ignore("docs/\n!docs/keep.md\n")
    assert not r.is_packed("docs/keep.md")


def test_directory_pattern_matches_directories_at_any_depth_not_files() -> None:
    r = ignore("build/\n")
    assert not r.is_packed("build/out.txt")
    assert not r.is_packed("pkg/build/out.txt")
    assert r.is_packed("build")  # a FILE named build
    assert r.is_packed("pkg/build")
    assert r.ignored("build", is_dir=True)
    assert not r.ignored("build", is_dir=False)


def test_name_pattern_without_slash_matches_any_component() -> None:
    r = ignore("__pycache__/\n*.py[cod]\n.env\n")
    assert not r.is_packed("models/llm/__pycache__/llm.cpython-312.pyc")
    assert not r.is_packed("a.pyc") and not r.is_packed("deep/er/b.pyo")
    assert r.is_packed("a.py")
    assert not r.is_packed(".env") and not r.is_packed("sub/.env")
    assert r.is_packed(".env.example")


def test_star_pyc() -> None:
    r = ignore("*.pyc\n")
    assert not r.is_packed("x.pyc")
    assert not r.is_packed("oai_bridge/x.pyc")
    assert r.is_packed("x.pyc.txt")
    assert r.is_packed("x.py")


def test_anchored_patterns() -> None:
    r = ignore("/tests/\n/Makefile\n/dist\n")
    assert not r.is_packed("tests/unit/test_x.py")
    assert r.is_packed("oai_bridge/tests/helper.py")  # anchored: only at the root
    assert not r.is_packed("Makefile")
    assert r.is_packed("sub/Makefile")
    assert not r.is_packed("dist/a.difypkg")  # no trailing slash: file or directory


def test_pattern_with_inner_slash_is_anchored() -> None:
    r = ignore("docs/internal\n")
    assert not r.is_packed("docs/internal/x.md")
    assert r.is_packed("other/docs/internal/x.md")
    assert r.is_packed("docs/public.md")


def test_double_star() -> None:
    r = ignore("**/fixtures/\na/**/z.txt\n")
    assert not r.is_packed("fixtures/x")
    assert not r.is_packed("tests/deep/fixtures/x")
    assert not r.is_packed("a/b/c/z.txt")
    assert not r.is_packed("a/z.txt")
    assert r.is_packed("b/z.txt")
    assert r.is_packed("a/b/other.txt")


def test_go_glob_syntax_classes_escapes_and_bad_patterns() -> None:
    r = ignore("file[0-9].txt\n[^a]only\n\\*star\nbad[\n")
    assert not r.is_packed("file7.txt")
    assert r.is_packed("filex.txt")
    assert not r.is_packed("bonly") and r.is_packed("aonly")
    assert not r.is_packed("*star") and r.is_packed("xstar")
    assert r.is_packed("bad[")  # a malformed pattern (Go: ErrBadPattern) matches nothing


def test_no_builtin_ignores(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {".git/config": "x", ".venv/bin/python": "x", ".env": "K=1", "a/__pycache__/m.pyc": ""})
    assert pkg.collect_files(root) == [".env", ".git/config", ".venv/bin/python", "a/__pycache__/m.pyc"]


def test_gitignore_is_the_fallback_only_without_difyignore(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {".gitignore": "*.txt\n", "a.txt": "", "b.md": ""})
    assert pkg.collect_files(root) == [".gitignore", "b.md"]
    (root / ".difyignore").write_text("*.md\n")
    assert pkg.collect_files(root) == [".difyignore", ".gitignore", "a.txt"]


def test_ignored_directory_is_not_entered(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {".difyignore": "secret/\n", "secret/k": "", "ok/secret.txt": ""})
    fifo_dir = root / "secret"
    os.mkfifo(fifo_dir / "fifo")  # would be an error if the walk went in
    assert pkg.collect_files(root) == [".difyignore", "ok/secret.txt"]


def test_unreadable_entries_fail_clearly(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"a.txt": ""})
    os.mkfifo(root / "pipe")
    with pytest.raises(pkg.PackageError, match="pipe is not a regular file"):
        pkg.collect_files(root)
    (root / "pipe").unlink()
    (root / "dirlink").symlink_to(root / "sub", target_is_directory=True)
    (root / "sub").mkdir()
    with pytest.raises(pkg.PackageError, match="dirlink is a symlink to a directory"):
        pkg.collect_files(root)
    (root / "dirlink").unlink()
    (root / "dangling").symlink_to(root / "missing")
    with pytest.raises(pkg.PackageError, match="dangling: cannot read"):
        pkg.collect_files(root)


def test_symlinked_file_is_packed_with_its_content(tmp_path: Path) -> None:
    root = make_tree(tmp_path, {"real.txt": "content"})
    (root / "link.txt").symlink_to(root / "real.txt")
    assert pkg.collect_files(root) == ["link.txt", "real.txt"]
    data = pkg.build_archive(root, ["link.txt"])
    out = tmp_path / "x.zip"
    out.write_bytes(data)
    with zipfile.ZipFile(out) as archive:
        assert archive.read("link.txt") == b"content"


# --- the package of this plugin ------------------------------------------------------------
@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pkg.main(["--out", str(tmp_path_factory.mktemp("dist"))])


def test_output_name_and_location(built: Path) -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))
    assert built.name == f"{manifest['name']}-{manifest['version']}.difypkg"
    assert built.name == "openai_compatible_bridge-0.2.0.difypkg"


def test_plain_zip_sorted_no_directories_manifest_at_root(built: Path) -> None:
    listed = names(built)
    assert "manifest.yaml" in listed
    assert listed == sorted(listed, key=lambda n: n.encode())
    assert len(listed) == len(set(listed))
    assert not [n for n in listed if n.endswith("/")]
    assert not [info.filename for info in entries(built) if info.is_dir()]  # the daemon fails on them
    assert not [n for n in listed if n.startswith(("/", "./")) or "\\" in n or ".." in n.split("/")]
    with zipfile.ZipFile(built) as archive:
        assert archive.testzip() is None
        assert yaml.safe_load(archive.read("manifest.yaml"))["name"] == "openai_compatible_bridge"


def test_fixed_metadata(built: Path) -> None:
    for info in entries(built):
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert info.create_system == 3
        assert stat.S_IMODE(info.external_attr >> 16) == 0o644, info.filename
        assert stat.S_ISREG(info.external_attr >> 16)
        assert info.compress_type == zipfile.ZIP_DEFLATED


def test_contents_equal_the_files(built: Path) -> None:
    with zipfile.ZipFile(built) as archive:
        for name in archive.namelist():
            assert archive.read(name) == (ROOT / name).read_bytes(), name


def test_development_files_are_left_out(built: Path) -> None:
    listed = names(built)
    for prefix in (".git/", ".venv/", "tests/", "scripts/", ".ci/", "dist/", "keys/", ".pytest_cache/", ".ruff_cache/"):
        assert not [n for n in listed if n.startswith(prefix)], prefix
    assert not [n for n in listed if n.endswith(".pem")], "a signing key would be published with the plugin"
    for name in (".env", "pyproject.toml", "uv.lock", "requirements-dev.txt", "Makefile", ".difyignore", ".gitignore"):
        assert name not in listed, name
    assert not [n for n in listed if "__pycache__" in n.split("/") or n.endswith((".pyc", ".pyo"))]
    # a packed .env would be read by the installed plugin (and could switch it to remote debugging)
    assert not [n for n in listed if n.split("/")[-1] == ".env"]


def test_what_the_daemon_needs_is_present(built: Path) -> None:
    listed = set(names(built))
    needed = {"manifest.yaml", "main.py", "requirements.txt", "PRIVACY.md", "README.md"}
    for folder in ("provider", "models", "oai_bridge", "_assets"):
        found = {
            p.relative_to(ROOT).as_posix()
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        }
        assert found, folder
        needed |= found
    assert needed <= listed, sorted(needed - listed)
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))
    provider = yaml.safe_load((ROOT / manifest["plugins"]["models"][0]).read_text(encoding="utf-8"))
    python = provider["extra"]["python"]
    for source in [python["provider_source"], *python["model_sources"]]:
        assert source in listed
    assert f"_assets/{manifest['icon']}" in listed and f"_assets/{manifest['icon_dark']}" in listed
    assert manifest["privacy"] in listed


def test_every_relative_link_of_the_readme_is_inside_the_package(built: Path) -> None:
    # Dify shows the packaged README: a link to a file left out of the package is dead there.
    listed = set(names(built))
    links = [target.partition("#")[0] for _, target in relative_links(ROOT / "README.md")]
    assert [link for link in links if link.startswith("docs/")], "README.md links no doc page: nothing checked"
    dead = []
    for link in filter(None, links):
        rel = (ROOT / link).resolve().relative_to(ROOT).as_posix()
        if rel not in listed and not any(name.startswith(f"{rel}/") for name in listed):
            dead.append(link)
    assert not dead, f"README.md links to files the package leaves out: {dead}"


def test_ignore_file_keeps_the_docs_and_leaves_out_keys() -> None:
    r = pkg.IgnoreRules.load(ROOT)
    assert r.source == ".difyignore"
    assert r.is_packed("docs/quickstart.md") and r.is_packed("docs/servers/ollama.md")
    for path in ("keys/signing.private.pem", "keys/signing.public.pem", "my.private.pem"):
        assert not r.is_packed(path), path


def test_no_pyproject_in_the_package_so_the_daemon_installs_requirements(built: Path) -> None:
    # With pyproject.toml the daemon would run `uv sync` (which needs a [project] table).
    assert "pyproject.toml" not in names(built)
    assert "requirements.txt" in names(built)


# --- reproducibility ---------------------------------------------------------------------------
def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    first = pkg.main(["--out", str(tmp_path / "one")])
    second = pkg.main(["--out", str(tmp_path / "two")])
    assert first.read_bytes() == second.read_bytes()


def test_mtimes_modes_and_walk_order_do_not_matter(plugin_copy: Path, tmp_path: Path) -> None:
    first = pkg.package(plugin_copy, tmp_path / "one")
    for path in plugin_copy.rglob("*"):
        if path.is_file():
            os.utime(path, (2_000_000_000, 2_000_000_000))
            path.chmod(0o600)
    second = pkg.package(plugin_copy, tmp_path / "two")
    assert first.read_bytes() == second.read_bytes()


def test_rebuilding_into_the_same_place_replaces_the_file(plugin_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = pkg.package(plugin_copy, out)
    data = first.read_bytes()
    second = pkg.package(plugin_copy, out)
    assert second == first and second.read_bytes() == data
    assert sorted(p.name for p in out.iterdir()) == [first.name]  # no temp file left


def test_ignored_clutter_in_a_copy_is_left_out(plugin_copy: Path, tmp_path: Path) -> None:
    make_tree(
        plugin_copy,
        {
            ".env": "INSTALL_METHOD=remote\nREMOTE_INSTALL_KEY=secret\n",
            ".env.local": "x",
            ".git/HEAD": "ref: refs/heads/main\n",
            ".venv/bin/python": "x",
            "tests/test_x.py": "",
            "oai_bridge/__pycache__/http.cpython-312.pyc": b"\0",
            "models/llm/llm.pyc": b"\0",
            "dist/old.difypkg": b"PK",
            "pyproject.toml": "[tool.ruff]\n",
            "uv.lock": "",
        },
    )
    clean = pkg.package(plugin_copy, tmp_path / "out")
    assert set(names(clean)) == set(pkg.collect_files(ROOT))


def test_a_symlinked_virtualenv_is_left_out(plugin_copy: Path, tmp_path: Path) -> None:
    # A shared venv linked in as .venv (worktrees, some tools) is not a directory to the walk: a
    # "/"-only pattern would miss it and reading it would fail the build.
    venv = make_tree(tmp_path / "venv", {"bin/python": "x"})
    (plugin_copy / ".venv").symlink_to(venv, target_is_directory=True)
    clean = pkg.package(plugin_copy, tmp_path / "out")
    assert set(names(clean)) == set(pkg.collect_files(ROOT))


# --- the CLI's checks --------------------------------------------------------------------------
def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("version: 0.2.0\ntype", "version: 0.1\ntype", "version '0.1' does not match"),
        ("version: 0.2.0\ntype", "version: 0.1.0-a-very-long-prerelease-tag\ntype", "version"),
        ("  version: 0.0.1\n  arch", "  version: v0.1.0\n  arch", "meta.version"),
        ("name: openai_compatible_bridge", "name: OpenAI-Bridge", "name 'OpenAI-Bridge' does not match"),
        ("author: oai-bridge", "author: oai bridge", "author 'oai bridge' does not match"),
        ("type: plugin", "type: tool", "type must be 'plugin'"),
        ("icon: icon.svg", "icon: missing.svg", "plugin icon 'missing.svg' not found in _assets/"),
        ("icon_dark: icon-dark.svg", "icon_dark: nope.svg", "plugin dark icon 'nope.svg' not found"),
        (
            "    - provider/openai_compatible_bridge.yaml",
            "    - provider/openai_compatible_bridge.yaml\n    - provider/openai_compatible_bridge.yaml",
            "exactly one provider YAML",
        ),
        ("  memory: 268435456", "  memory: 0", "resource.memory"),
        ("    - arm64", "    - riscv64", "meta.arch"),
        ("created_at: 2026-11-28T00:00:00Z", "created_at: yesterday", "created_at"),
        ("label:\n  en_US: OpenAI-Compatible Bridge", "label:\n  de_DE: Brücke", "label.en_US is required"),
        ("privacy: PRIVACY.md", "privacy: NOPE.md", "privacy 'NOPE.md' does not exist"),
        ("    entrypoint: main", "    entrypoint: nope", "entrypoint 'nope' has no nope.py"),
    ],
)
def test_manifest_rules(plugin_copy: Path, tmp_path: Path, old: str, new: str, message: str) -> None:
    edit(plugin_copy / "manifest.yaml", old, new)
    with pytest.raises(pkg.PackageError, match="invalid plugin") as info:
        pkg.package(plugin_copy, tmp_path / "out")
    assert message in str(info.value)
    assert not (tmp_path / "out").exists()  # nothing written


def test_assets_folder_is_required(plugin_copy: Path, tmp_path: Path) -> None:
    shutil.rmtree(plugin_copy / "_assets")
    with pytest.raises(pkg.PackageError, match=r"_assets/ is missing"):
        pkg.package(plugin_copy, tmp_path)


@pytest.mark.parametrize("key", ["icon_small", "icon_large"])
def test_every_provider_icon_language_must_exist(plugin_copy: Path, tmp_path: Path, key: str) -> None:
    edit(
        plugin_copy / "provider" / "openai_compatible_bridge.yaml",
        f"{key}:\n  en_US: icon.svg",
        f"{key}:\n  en_US: icon.svg\n  ja_JP: ja.svg",
    )
    with pytest.raises(pkg.PackageError, match=f"model {key.replace('_', ' ')} ja_JP 'ja.svg' not found"):
        pkg.package(plugin_copy, tmp_path)
    (plugin_copy / "_assets" / "ja.svg").write_text("<svg/>")
    assert pkg.package(plugin_copy, tmp_path).is_file()


def test_model_plugin_declares_nothing_else(plugin_copy: Path, tmp_path: Path) -> None:
    edit(plugin_copy / "manifest.yaml", "plugins:\n  models:", "plugins:\n  tools:\n    - provider/x.yaml\n  models:")
    with pytest.raises(pkg.PackageError, match=r"nothing but plugins\.models"):
        pkg.package(plugin_copy, tmp_path)


@pytest.mark.parametrize(
    "pattern",
    ["requirements.txt", "_assets/", "provider/*.yaml", "models/", "main.py", "PRIVACY.md"],
)
def test_ignoring_a_file_the_plugin_needs_fails(plugin_copy: Path, tmp_path: Path, pattern: str) -> None:
    with (plugin_copy / ".difyignore").open("a") as handle:
        handle.write(f"\n{pattern}\n")
    with pytest.raises(pkg.PackageError, match="left out by the ignore file"):
        pkg.package(plugin_copy, tmp_path)


def test_all_problems_are_reported_at_once(plugin_copy: Path, tmp_path: Path) -> None:
    edit(plugin_copy / "manifest.yaml", "version: 0.2.0\ntype", "version: x\ntype")
    edit(plugin_copy / "manifest.yaml", "author: oai-bridge", "author: A")
    with pytest.raises(pkg.PackageError) as info:
        pkg.package(plugin_copy, tmp_path)
    assert "version 'x'" in str(info.value) and "author 'A'" in str(info.value)


# --- the size limit ------------------------------------------------------------------------------
def test_default_limit_is_50_mib_uncompressed(plugin_copy: Path, tmp_path: Path) -> None:
    big = plugin_copy / "_assets" / "huge.bin"
    used = sum((plugin_copy / rel).stat().st_size for rel in pkg.collect_files(plugin_copy))
    with big.open("wb") as handle:  # sparse: costs no disk
        handle.truncate(50 * 1024 * 1024 - used)
    assert pkg.package(plugin_copy, tmp_path / "ok").is_file()  # exactly at the limit: allowed
    with big.open("r+b") as handle:
        handle.truncate(50 * 1024 * 1024 - used + 1)
    with pytest.raises(pkg.PackageError, match="Plugin package size is too large") as info:
        pkg.package(plugin_copy, tmp_path / "too-big")
    text = str(info.value)
    assert "less than 52428800 bytes" in text
    assert "1. name: _assets/huge.bin" in text  # the largest files are named
    assert not (tmp_path / "too-big").exists()


def test_max_size_option(plugin_copy: Path, tmp_path: Path) -> None:
    (plugin_copy / "_assets" / "two-mib.bin").write_bytes(b"\0" * (2 << 20))
    with pytest.raises(pkg.PackageError, match="less than 1048576 bytes"):
        pkg.main(["--root", str(plugin_copy), "--out", str(tmp_path), "--max-size", "1"])
    assert pkg.main(["--root", str(plugin_copy), "--out", str(tmp_path), "--max-size", "3"]).is_file()


# --- the command line ------------------------------------------------------------------------
def test_command_line_prints_the_path_and_fails_with_a_message(plugin_copy: Path, tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(plugin_copy), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert Path(ok.stdout.strip()) == tmp_path / "o" / "openai_compatible_bridge-0.2.0.difypkg"
    shutil.rmtree(plugin_copy / "_assets")
    bad = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(plugin_copy), "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "_assets/ is missing" in bad.stderr and not bad.stdout


# --- the declarations are read with PyYAML, strictly ---------------------------------------------
def test_yaml_loader_rejects_duplicate_keys(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("name: a\nname: b\n")
    with pytest.raises(pkg.PackageError, match="duplicate key 'name'"):
        rules.load_yaml(path, "m.yaml")


def test_yaml_loader_keeps_created_at_as_text_and_names_the_file_on_errors(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("created_at: 2026-11-28T00:00:00Z\nn: 1\n")
    assert rules.load_yaml(path) == {"created_at": "2026-11-28T00:00:00Z", "n": 1}
    path.write_text("a: [1\n")
    with pytest.raises(pkg.PackageError, match=r"m\.yaml: invalid YAML"):
        rules.load_yaml(path, "m.yaml")


def test_a_duplicate_key_in_the_manifest_fails_the_build(plugin_copy: Path, tmp_path: Path) -> None:
    with (plugin_copy / "manifest.yaml").open("a") as handle:
        handle.write("type: plugin\n")
    with pytest.raises(pkg.PackageError, match="duplicate key 'type'"):
        pkg.package(plugin_copy, tmp_path / "out")
