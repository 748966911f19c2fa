"""The Marketplace's blocking rules (scripts/difypkg/marketplace.py) on this plugin's real package.

A Marketplace build of this checkout (scripts/package.py with obviously-test values) passes every
static check; altered copies of it show that each rule catches what it must, worded like the
Marketplace's report. `make precheck` (tests/e2e/test_precheck.py) adds the install test.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from difypkg import marketplace
from difypkg.marketplace import Findings, Unpacked

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_SCRIPT = ROOT / "scripts" / "package.py"
TEST_VALUES = ["--repo", "https://github.com/test-owner/test-repo", "--contact", "test@example.invalid"]
TEST_VALUES += ["--author", "test-author"]
ELF_HEADER = b"\x7fELF\x02\x01\x01" + b"\0" * 57


def build(out: Path, *extra: str) -> Path:
    done = subprocess.run(
        [sys.executable, str(PACKAGE_SCRIPT), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.splitlines()[0])


@pytest.fixture(scope="module")
def marketplace_build(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build(tmp_path_factory.mktemp("dist"), *TEST_VALUES).read_bytes()


@pytest.fixture(scope="module")
def plain_build(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build(tmp_path_factory.mktemp("dist")).read_bytes()


def variant(data: bytes, change: dict[str, bytes | None] | None = None) -> bytes:
    """The package with entries replaced, removed (None) or added."""
    change = dict(change or {})
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename in change:
                content = change.pop(info.filename)
                if content is not None:
                    target.writestr(info.filename, content)
            else:
                target.writestr(info, source.read(info))
        for name, content in change.items():
            if content is not None:
                target.writestr(name, content)
    return out.getvalue()


def opened(data: bytes, tmp_path: Path) -> Unpacked:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "x.difypkg"
    path.write_bytes(data)
    return marketplace.unpack(path, tmp_path / "plugin")


def entry(data: bytes, name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name).decode("utf-8")


STATIC_CHECKS: list[Callable[[Unpacked], Findings]] = [
    marketplace.contents_findings,
    marketplace.manifest_findings,
    marketplace.readme_findings,
    marketplace.secrets_findings,
    marketplace.dependencies_findings,
    marketplace.python_findings,
]


@pytest.mark.parametrize("check", STATIC_CHECKS, ids=lambda c: c.__name__)
def test_our_marketplace_build_passes(marketplace_build: bytes, tmp_path: Path, check) -> None:
    found = check(opened(marketplace_build, tmp_path))
    assert found.errors == [] and found.warnings == []


def test_a_plain_build_lacks_only_the_publishing_values(plain_build: bytes, tmp_path: Path) -> None:
    pkg = opened(plain_build, tmp_path)
    assert marketplace.manifest_findings(pkg).errors == [
        "missing required field: repo",
        "missing required field: contact",
    ]
    assert [e for e in marketplace.readme_findings(pkg).errors if "must link the source repository" in e]
    for check in (marketplace.contents_findings, marketplace.secrets_findings, marketplace.dependencies_findings):
        assert check(pkg).ok


# --- manifest -----------------------------------------------------------------------------------------
def manifest_with(data: bytes, old: str, new: str) -> bytes:
    text = entry(data, "manifest.yaml")
    assert old in text, old
    return variant(data, {"manifest.yaml": text.replace(old, new, 1).encode()})


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('author: "test-author"', 'author: "langgenius-fan"', "author must not contain 'langgenius'"),
        ('author: "test-author"', 'author: "my-dify-tools"', "author must not contain 'dify'"),
        ('author: "test-author"', "author: ''", "missing required field: author"),
        ("type: plugin", "type: tool", "type must be 'plugin'"),
        ('repo: "https://github.com/test-owner/test-repo"', 'repo: "https://example.com/x/y"', "repo must be a"),
        ('repo: "https://github.com/test-owner/test-repo"', 'repo: "github.com/a/b"', "repo must be a"),
        ('contact: "test@example.invalid"', 'contact: "test at example"', "contact must be a valid email"),
        ("privacy: PRIVACY.md", "privacy: docs/PRIVACY.md", "privacy references missing file: docs/PRIVACY.md"),
        ("  version: 0.0.1\n", "  version: v1\n", "meta.version must be a manifest format version"),
        ("  version: 0.0.1\n", "", "missing required field: meta.version"),
        ("    entrypoint: main\n", "", "missing required field: meta.runner.entrypoint"),
        ("  arch:\n    - amd64\n    - arm64\n", "  arch: []\n", "missing required field: meta.arch"),
    ],
)
def test_manifest_rules(marketplace_build: bytes, tmp_path: Path, old: str, new: str, message: str) -> None:
    found = marketplace.manifest_findings(opened(manifest_with(marketplace_build, old, new), tmp_path))
    assert [e for e in found.errors if message in e], found.errors


def test_minimum_dify_version_is_recommended(marketplace_build: bytes, tmp_path: Path) -> None:
    broken = manifest_with(marketplace_build, "  minimum_dify_version: 1.11.0\n", "")
    found = marketplace.manifest_findings(opened(broken, tmp_path))
    assert found.ok and found.warnings == ["missing recommended field: meta.minimum_dify_version"]


@pytest.mark.parametrize("privacy", [None, b"  \n"], ids=["missing", "empty"])
def test_privacy_file_is_required_and_not_empty(marketplace_build: bytes, tmp_path: Path, privacy) -> None:
    found = marketplace.manifest_findings(opened(variant(marketplace_build, {"PRIVACY.md": privacy}), tmp_path))
    expected = "missing required file: PRIVACY.md" if privacy is None else "privacy policy file is empty: PRIVACY.md"
    assert expected in found.errors


# --- README ---------------------------------------------------------------------------------------------
def readme_variant(data: bytes, tmp_path: Path, text: str) -> Findings:
    return marketplace.readme_findings(opened(variant(data, {"README.md": text.encode()}), tmp_path))


@pytest.mark.parametrize(
    "link",
    [
        "https://gitlab.com/a/b",
        "https://bitbucket.org/a/b",
        "http://gitee.com/a/b",
        "https://codeberg.org/a/b",
        "https://git.sr.ht/~a/b",
        "https://www.github.com/a/b",
    ],
)
def test_readme_needs_a_source_link_on_a_known_host(marketplace_build: bytes, tmp_path: Path, link: str) -> None:
    assert readme_variant(marketplace_build, tmp_path, f"# X\n\nSource: {link}\n").ok
    assert not readme_variant(marketplace_build, tmp_path / "no", "# X\n\nSource: https://example.com/a/b\n").ok


def test_readme_cjk_only_inside_fenced_code(marketplace_build: bytes, tmp_path: Path) -> None:
    fenced = "# X\n\nhttps://github.com/a/b\n\n```text\n中文 日本語 한국어\n```\n\n~~~\nカタカナ\n~~~\n"
    assert readme_variant(marketplace_build, tmp_path, fenced).ok
    prose = "# X\n\nhttps://github.com/a/b\n\nSee 说明 here.\n\n```\ncode\n```\nまた。\n"
    found = readme_variant(marketplace_build, tmp_path / "prose", prose)
    assert [e.split(" ")[0] for e in found.errors] == ["README.md:5", "README.md:10"]
    assert "README.xx.md" in found.errors[0]


# --- secrets --------------------------------------------------------------------------------------------
FAKE_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("key: sk-" + "abcdefghij0123456789XYZ", "OpenAI-style API key"),
        ("```\nOPENAI_API_KEY=sk-" + "proj-Abcdefghij0123456789\n```", "OpenAI-style API key"),
        ("token ghp_" + "A" * 36, "GitHub token"),
        ("xoxb-" + "1234567890-abcdefghij", "Slack token"),
        ("AKIA" + "ABCDEFGHIJKLMNOP", "AWS access key id"),
        (f"Bearer {FAKE_JWT}", "JWT"),
        ("-----BEGIN RSA PRIVATE KEY-----", "private key block"),
        ("-----BEGIN PRIVATE KEY-----", "private key block"),
        ('client_secret = "q8Zr2LmX9vPw4TyK7bNcHs5JdF3gQa6E"', "secret assignment `client_secret`"),
        ("DB_PASSWORD: 9f86d081884c7d65", "secret assignment `DB_PASSWORD`"),
    ],
)
def test_secret_shapes_are_blocked_and_masked(marketplace_build: bytes, tmp_path: Path, line: str, what: str) -> None:
    pkg = opened(variant(marketplace_build, {"docs/extra.md": f"# Example\n\n{line}\n".encode()}), tmp_path)
    found = marketplace.secrets_findings(pkg)
    assert [e for e in found.errors if e.startswith("docs/extra.md:") and what in e], found.errors
    secret = line.split()[-1].strip('"')
    assert all(secret not in e for e in found.errors) or len(secret) <= 8


@pytest.mark.parametrize(
    "line",
    [
        "LITELLM_MASTER_KEY=sk-test-master",  # short: LiteLLM's keys start with sk-
        "api_key: os.environ/UPSTREAM_API_KEY",  # LiteLLM's reference to an environment variable
        'api_key = credentials.get("api_key")',  # code reading a credential
        "token: your-api-key",
        "password = changeme-please",
        "max_tokens: 4096",
        "secret_header: http://localhost:8080/v1/secret",
    ],
)
def test_harmless_lines_pass(marketplace_build: bytes, tmp_path: Path, line: str) -> None:
    pkg = opened(variant(marketplace_build, {"docs/extra.md": f"{line}\n".encode()}), tmp_path)
    assert marketplace.secrets_findings(pkg).ok


# --- contents -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (".git/HEAD", b"ref: refs/heads/main\n", "forbidden directory in package: .git/"),
        (".venv/bin/activate", b"x", "forbidden directory in package: .venv/"),
        ("oai_bridge/__pycache__/x.txt", b"x", "forbidden directory in package: oai_bridge/__pycache__/"),
        ("node_modules/a/index.js", b"x", "forbidden directory in package: node_modules/"),
        (".env", b"A=1\n", "forbidden file in package: .env"),
        ("config/.env.local", b"A=1\n", "forbidden file in package: config/.env.local"),
        ("keys/signing.pem", b"x", "forbidden file type in package: keys/signing.pem"),
        ("models/llm/llm.pyc", b"\0", "forbidden file type in package: models/llm/llm.pyc"),
        ("debug.log", b"x", "forbidden file type in package: debug.log"),
        ("manifest.yaml.bak", b"x", "forbidden file type in package: manifest.yaml.bak"),
        ("server.key", b"x", "forbidden file type in package: server.key"),
        ("lib/fast.so", b"x", "native binary in package: lib/fast.so"),
        ("tools/helper", ELF_HEADER, "native binary in package: tools/helper"),
    ],
)
def test_forbidden_contents(marketplace_build: bytes, tmp_path: Path, name: str, content: bytes, message: str) -> None:
    found = marketplace.contents_findings(opened(variant(marketplace_build, {name: content}), tmp_path))
    assert [e for e in found.errors if e.startswith(message)], found.errors


def test_env_example_is_allowed(marketplace_build: bytes, tmp_path: Path) -> None:
    pkg = opened(variant(marketplace_build, {".env.example": b"INSTALL_METHOD=remote\n"}), tmp_path)
    assert marketplace.contents_findings(pkg).ok


def test_size_and_file_count_limits(tmp_path: Path) -> None:
    small = Unpacked(tmp_path, ("a",), 10, 10)
    (tmp_path / "a").write_bytes(b"x")
    assert marketplace.contents_findings(small).ok
    big = Unpacked(tmp_path, ("a",), marketplace.MAX_BYTES + 1, marketplace.MAX_BYTES + 1)
    assert [e for e in marketplace.contents_findings(big).errors if "packed" in e and "50 MiB" in e]
    names = tuple(f"f{i}" for i in range(marketplace.MAX_FILES + 1))
    for name in names:
        (tmp_path / name).write_bytes(b"")
    many = Unpacked(tmp_path, names, 1, 1)
    assert f"package has {len(names)} files; the limit is 5000" in marketplace.contents_findings(many).errors


# --- dependencies ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("requirements", "message"),
    [
        ("dify_plugin>=0.10.2,<0.11\nopenai\n", "requirements.txt:2 has no version specifier: openai"),
        ("dify_plugin<0.11\n", "dify_plugin needs a lower bound"),
        ("dify_plugin>=0.8.0\n", "dify_plugin must be 0.9.0 or higher"),
        ("dify-plugin==0.5.1\n", "dify_plugin must be 0.9.0 or higher"),
        ("dify_plugin>=0.10\nfoo @ https://example.com/foo.whl\n", "direct URL or VCS requirements"),
        ("dify_plugin>=0.10\ngit+https://github.com/a/b.git\n", "direct URL or VCS requirements"),
        ("dify_plugin>=0.10\n-e ./local\n", "editable or local installs"),
        ("openai>=2\n", "requirements.txt does not require dify_plugin"),
    ],
)
def test_dependency_rules(marketplace_build: bytes, tmp_path: Path, requirements: str, message: str) -> None:
    pkg = opened(variant(marketplace_build, {"requirements.txt": requirements.encode()}), tmp_path)
    found = marketplace.dependencies_findings(pkg)
    assert [e for e in found.errors if message in e], found.errors


@pytest.mark.parametrize(
    "spec", ["dify_plugin>=0.9.0", "dify_plugin==0.9.0", "Dify-Plugin >= 1.0 ; python_version>'3'"]
)
def test_dependency_lower_bounds_that_pass(marketplace_build: bytes, tmp_path: Path, spec: str) -> None:
    pkg = opened(variant(marketplace_build, {"requirements.txt": f"# runtime\n{spec}\n".encode()}), tmp_path)
    assert marketplace.dependencies_findings(pkg).ok


# --- code and icon ------------------------------------------------------------------------------------
def test_code_that_does_not_compile_is_blocked(marketplace_build: bytes, tmp_path: Path) -> None:
    pkg = opened(variant(marketplace_build, {"oai_bridge/broken.py": b"def broken(:\n"}), tmp_path)
    found = marketplace.python_findings(pkg)
    assert [e for e in found.errors if e.startswith("python -m compileall failed") and "broken.py" in e]


def test_template_icon_is_blocked(marketplace_build: bytes, tmp_path: Path) -> None:
    template = f'<svg><path d="{marketplace.TEMPLATE_ICON_MARKERS[0]} 15.1736 15.3364Z"/></svg>'.encode()
    found = marketplace.python_findings(opened(variant(marketplace_build, {"_assets/icon.svg": template}), tmp_path))
    assert "icon is still the plugin template's icon: _assets/icon.svg" in found.errors
    gone = marketplace.python_findings(opened(variant(marketplace_build, {"_assets/icon.svg": None}), tmp_path / "b"))
    assert "icon not found in package: _assets/icon.svg" in gone.errors


def test_entries_leaving_the_package_are_refused(tmp_path: Path) -> None:
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../outside.txt", "x")
    path = tmp_path / "evil.difypkg"
    path.write_bytes(evil.getvalue())
    with pytest.raises(marketplace.PackageError, match="points outside the package"):
        marketplace.unpack(path, tmp_path / "plugin")
    assert not (tmp_path / "outside.txt").exists()
