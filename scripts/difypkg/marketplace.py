"""The Dify Marketplace's blocking rules for a submitted package, on the package's own files.

The Marketplace runs these checks (``langgenius/dify-marketplace-toolkit``, from the
``langgenius/dify-plugins`` pull-request CI) on every ``.difypkg``; this is the project's own
implementation of the published rules. Each check takes an unpacked package and returns its
``Findings`` (blocking errors, review warnings), worded and grouped like the Marketplace's report.
The install-and-serve check is in ``difypkg.install``; ``scripts/precheck.py`` runs them all.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from difypkg.errors import PackageError
from difypkg.rules import VERSION_RE, load_yaml

# --- the values a Marketplace package must carry -----------------------------------------------
SOURCE_HOSTS = ("github.com", "gitlab.com", "bitbucket.org", "gitee.com", "codeberg.org", "git.sr.ht")
_HOSTS = "|".join(re.escape(host) for host in SOURCE_HOSTS)
REPO_RE = re.compile(rf"^https?://(www\.)?({_HOSTS})/\S+$")
SOURCE_URL_RE = re.compile(rf"https?://(?:www\.)?(?:{_HOSTS})/[^\s)>\]\"'`]+")
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
RESERVED_AUTHOR_WORDS = ("langgenius", "dify")  # first-party namespaces
REQUIRED_FIELDS = (
    "author",
    "name",
    "version",
    "type",
    "icon",
    "plugins",
    "privacy",
    "repo",
    "contact",
    "label.en_US",
    "description.en_US",
    "meta.version",
    "meta.arch",
    "meta.runner.language",
    "meta.runner.version",
    "meta.runner.entrypoint",
)
RECOMMENDED_FIELDS = ("meta.minimum_dify_version",)

# --- contents ---------------------------------------------------------------------------------------
MAX_BYTES = 50 << 20  # packed and unpacked
MAX_FILES = 5000
FORBIDDEN_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules", ".idea", ".vscode"}
    | {".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".nox", ".eggs"}
)
FORBIDDEN_SUFFIXES = (".key", ".pem", ".pyc", ".pyo", ".log", ".bak")
NATIVE_SUFFIXES = (".so", ".dll", ".dylib", ".exe", ".bin", ".pyd", ".a", ".o")
_NATIVE_MAGIC = (b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")

# --- secrets ----------------------------------------------------------------------------------------
VENDOR_SECRETS = (
    ("OpenAI-style API key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b")),
    ("GitHub token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9_]{20,}\b|\bgithub_pat_[A-Za-z0-9_]{20,}\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("private key block", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
)
_SECRET_NAME = r"(?:api[_-]?key|access[_-]?key|secret|token|password|passwd|private[_-]?key|credential)"
ASSIGNMENT_RE = re.compile(
    rf"""(?ix)(?P<key>[\w.-]*{_SECRET_NAME}[\w.-]*)["']?\s*[:=]\s*(?P<value>"[^"]*"|'[^']*'|[^\s"',;#)}}]+)"""
)
MIN_SECRET_LENGTH = 12
# Bits per character from which a value counts as random (detect-secrets' defaults for hex and base64).
MIN_HEX_ENTROPY, MIN_TOKEN_ENTROPY = 3.0, 4.5
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9+/=_.-]+$")
MAX_SCANNED_BYTES = 1 << 20

# --- README ------------------------------------------------------------------------------------------
# Han (with extensions and compatibility forms), kana, Hangul, CJK punctuation and full-width forms.
CJK_RE = re.compile(
    "[\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f]"
)
_FENCE_RE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")

# --- dependencies ------------------------------------------------------------------------------------
_REQ_OPERATOR_RE = re.compile(r"(===|==|~=|!=|>=|<=|>|<)\s*([\w.*+!-]+)")
_REQ_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
SDK_MINIMUM = (0, 9, 0)

# The Dify CLI scaffold's model icon (light and dark): the path of its brain glyph.
TEMPLATE_ICON_MARKERS = ("M15 14C15 14.2368 15.0407 14.4618 15.1147 14.67C15.2269 14.9856",)


@dataclass
class Findings:
    """One check's result: ``errors`` block publication, ``warnings`` ask a reviewer to look."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Unpacked:
    """A package's files in a directory, with what the archive said about itself."""

    root: Path
    files: tuple[str, ...]
    packed_size: int
    unpacked_size: int


def unpack(package: Path, dest: Path) -> Unpacked:
    """Extract a ``.difypkg`` into ``dest`` (refusing names that would leave it)."""
    try:
        with zipfile.ZipFile(package) as archive:
            infos = archive.infolist()
            for info in infos:
                name = PurePosixPath(info.filename)
                if name.is_absolute() or ".." in name.parts or "\\" in info.filename:
                    raise PackageError(f"{package}: entry {info.filename!r} points outside the package")
            archive.extractall(dest)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackageError(f"{package}: not a readable .difypkg ({exc})") from exc
    files = tuple(sorted(info.filename for info in infos if not info.is_dir()))
    return Unpacked(Path(dest), files, package.stat().st_size, sum(info.file_size for info in infos))


# --- manifest -----------------------------------------------------------------------------------------
def _field(document: Any, dotted: str) -> Any:
    value = document
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def load_manifest(pkg: Unpacked) -> Mapping[str, Any]:
    manifest = load_yaml(pkg.root / "manifest.yaml", "manifest.yaml") if "manifest.yaml" in pkg.files else None
    return manifest if isinstance(manifest, Mapping) else {}


def author_problem(author: str) -> str | None:
    lowered = author.lower()
    for word in RESERVED_AUTHOR_WORDS:
        if word in lowered:
            return f"author must not contain '{word}'"
    return None


def manifest_findings(pkg: Unpacked) -> Findings:
    found = Findings()
    if "manifest.yaml" not in pkg.files:
        found.errors.append("missing required file: manifest.yaml")
        return found
    try:
        manifest = load_manifest(pkg)
    except PackageError as exc:
        found.errors.append(f"failed to parse manifest.yaml: {exc}")
        return found
    for name in REQUIRED_FIELDS:
        if _empty(_field(manifest, name)):
            found.errors.append(f"missing required field: {name}")
    for name in RECOMMENDED_FIELDS:
        if _empty(_field(manifest, name)):
            found.warnings.append(f"missing recommended field: {name}")
    if not _empty(manifest.get("type")) and manifest.get("type") != "plugin":
        found.errors.append("type must be 'plugin'")
    author = manifest.get("author")
    if isinstance(author, str) and (problem := author_problem(author)):
        found.errors.append(problem)
    repo, contact = manifest.get("repo"), manifest.get("contact")
    if not _empty(repo) and not (isinstance(repo, str) and REPO_RE.match(repo)):
        found.errors.append(f"repo must be a source repository URL on {', '.join(SOURCE_HOSTS)}: {repo!r}")
    if not _empty(contact) and not (isinstance(contact, str) and EMAIL_RE.match(contact)):
        found.errors.append(f"contact must be a valid email address: {contact!r}")
    meta_version = _field(manifest, "meta.version")
    if not _empty(meta_version) and not (isinstance(meta_version, str) and VERSION_RE.match(meta_version)):
        found.errors.append(f"meta.version must be a manifest format version like 0.0.1: {meta_version!r}")
    if "PRIVACY.md" not in pkg.files:
        found.errors.append("missing required file: PRIVACY.md")
    elif not (pkg.root / "PRIVACY.md").read_text(encoding="utf-8", errors="replace").strip():
        found.errors.append("privacy policy file is empty: PRIVACY.md")
    privacy = manifest.get("privacy")
    local = isinstance(privacy, str) and privacy and not privacy.startswith(("http://", "https://"))
    if local and privacy.removeprefix("./") not in pkg.files:
        found.errors.append(f"privacy references missing file: {privacy}")
    return found


# --- README -------------------------------------------------------------------------------------------
def prose_lines(markdown: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    fence: str | None = None
    for number, line in enumerate(markdown.splitlines(), 1):
        opener = _FENCE_RE.match(line)
        if fence is None and opener:
            fence = opener.group(1)[0] * len(opener.group(1))
        elif fence is not None and line.strip().startswith(fence) and not line.strip().strip(fence[0]):
            fence = None
        elif fence is None:
            yield number, line


def readme_findings(pkg: Unpacked) -> Findings:
    found = Findings()
    if "README.md" not in pkg.files:
        found.errors.append("missing required file: README.md")
        return found
    text = (pkg.root / "README.md").read_text(encoding="utf-8", errors="replace")
    urls = SOURCE_URL_RE.findall(text)
    if not urls:
        found.errors.append(f"README.md must link the source repository (a URL on {', '.join(SOURCE_HOSTS)})")
    try:
        repo = load_manifest(pkg).get("repo")
    except PackageError:
        repo = None
    linked = any(url.rstrip("/").startswith(str(repo).rstrip("/")) for url in urls)
    if urls and isinstance(repo, str) and repo and not linked:
        found.warnings.append(f"README.md does not link the manifest's repo {repo}")
    for number, line in prose_lines(text):
        if CJK_RE.search(line):
            found.errors.append(
                f"README.md:{number} contains CJK characters outside code blocks (put translations in README.xx.md)"
            )
    return found


# --- secrets ------------------------------------------------------------------------------------------
def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values()) if value else 0.0


def looks_random(value: str) -> bool:
    """Long enough, drawn from a token alphabet, and with the entropy of generated material."""
    if len(value) < MIN_SECRET_LENGTH or value.startswith(("http://", "https://", "/", "./", "../")):
        return False
    if _HEX_RE.match(value):
        return entropy(value) >= MIN_HEX_ENTROPY
    return bool(_TOKEN_RE.match(value)) and entropy(value) >= MIN_TOKEN_ENTROPY


def mask(value: str) -> str:
    return "***" if len(value) <= 8 else f"{value[:4]}...{value[-4:]}"


def is_text(data: bytes) -> bool:
    return b"\0" not in data[:4096]


def secret_lines(rel: str, text: str) -> list[str]:
    """Every secret-looking string of one text file, values masked."""
    errors = []
    for number, line in enumerate(text.splitlines(), 1):
        vendor = False
        for what, pattern in VENDOR_SECRETS:
            match = pattern.search(line)
            if match:
                vendor = True
                errors.append(f"{rel}:{number} matched {what}: {mask(match.group(0))}")
        if vendor:
            continue
        for match in ASSIGNMENT_RE.finditer(line):
            value = match.group("value").strip("\"'")
            if looks_random(value):
                errors.append(f"{rel}:{number} matched secret assignment `{match.group('key')}`: {mask(value)}")
    return errors


def secrets_findings(pkg: Unpacked) -> Findings:
    found = Findings()
    for rel in pkg.files:
        path = pkg.root / rel
        if path.stat().st_size > MAX_SCANNED_BYTES:
            found.warnings.append(f"{rel} skipped because it is larger than 1 MiB")
            continue
        data = path.read_bytes()
        if is_text(data):
            found.errors += secret_lines(rel, data.decode("utf-8", errors="replace"))
    return found


# --- contents -----------------------------------------------------------------------------------------
def is_native_binary(rel: str, head: bytes) -> bool:
    if rel.lower().endswith(NATIVE_SUFFIXES) or head.startswith(_NATIVE_MAGIC):
        return True
    if head.startswith(b"MZ") and len(head) >= 64:  # a PE file: "PE\0\0" where the DOS header points
        offset = int.from_bytes(head[60:64], "little")
        return head[offset : offset + 4] == b"PE\0\0"
    return False


def contents_findings(pkg: Unpacked) -> Findings:
    found = Findings()
    for what, size in (("packed", pkg.packed_size), ("unpacked", pkg.unpacked_size)):
        if size > MAX_BYTES:
            found.errors.append(f"package is {size} bytes {what}; the limit is {MAX_BYTES} bytes (50 MiB)")
    if len(pkg.files) > MAX_FILES:
        found.errors.append(f"package has {len(pkg.files)} files; the limit is {MAX_FILES}")
    reported_dirs: set[str] = set()
    for rel in pkg.files:
        parts = rel.split("/")
        for depth, part in enumerate(parts[:-1]):
            if part in FORBIDDEN_DIRS:
                folder = "/".join(parts[: depth + 1])
                if folder not in reported_dirs:
                    reported_dirs.add(folder)
                    found.errors.append(f"forbidden directory in package: {folder}/")
                break
        name = parts[-1]
        if name == ".env" or (name.startswith(".env.") and name != ".env.example"):
            found.errors.append(f"forbidden file in package: {rel} (only .env.example may be packed)")
        elif name.lower().endswith(FORBIDDEN_SUFFIXES):
            found.errors.append(f"forbidden file type in package: {rel}")
        with open(pkg.root / rel, "rb") as handle:
            head = handle.read(4096)
        if is_native_binary(rel, head):
            found.errors.append(f"native binary in package: {rel}")
    return found


# --- dependencies -------------------------------------------------------------------------------------
def _version_tuple(text: str) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", text.split("+")[0])
    return tuple(int(n) for n in numbers[:3]) + (0,) * (3 - min(3, len(numbers)))


def requirement_problems(number: int, line: str) -> list[str]:
    """One line of requirements.txt (comments and blank lines give nothing)."""
    spec = line.split(" #")[0].split("\t#")[0].strip()
    if not spec or spec.startswith("#"):
        return []
    where = f"requirements.txt:{number}"
    if spec.startswith("-"):
        if spec.startswith(("-e", "--editable")):
            return [f"{where} editable or local installs are not allowed: {spec}"]
        return [] if spec.startswith(("--hash", "--index-url", "--extra-index-url")) else [f"{where} option: {spec}"]
    if "git+" in spec or "://" in spec or re.search(r"(^|\s)@\s*\S", spec):
        return [f"{where} direct URL or VCS requirements are not allowed: {spec}"]
    name_match = _REQ_NAME_RE.match(spec)
    operators = _REQ_OPERATOR_RE.findall(spec.split(";")[0])
    if not name_match or not operators:
        return [f"{where} has no version specifier: {spec}"]
    if re.sub(r"[-_.]+", "_", name_match.group(1).lower()) == "dify_plugin":
        lower = [_version_tuple(v) for op, v in operators if op in (">=", "==", "===", "~=")]
        if not lower:
            return [f"{where} dify_plugin needs a lower bound (>= or ==) of 0.9.0 or higher: {spec}"]
        if max(lower) < SDK_MINIMUM:
            return [f"{where} dify_plugin must be 0.9.0 or higher: {spec}"]
    return []


def dependencies_findings(pkg: Unpacked) -> Findings:
    found = Findings()
    if "requirements.txt" not in pkg.files:
        if "pyproject.toml" not in pkg.files:
            found.errors.append("missing requirements.txt (or pyproject.toml)")
        return found
    lines = (pkg.root / "requirements.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    names = []
    for number, line in enumerate(lines, 1):
        found.errors += requirement_problems(number, line)
        match = _REQ_NAME_RE.match(line.split("#")[0])
        if match:
            names.append(re.sub(r"[-_.]+", "_", match.group(1).lower()))
    if "dify_plugin" not in names:
        found.errors.append("requirements.txt does not require dify_plugin")
    return found


# --- code and icon ------------------------------------------------------------------------------------
def python_findings(pkg: Unpacked, python: str = sys.executable) -> Findings:
    """``python -m compileall`` passes, and the icon is the plugin's own."""
    found = Findings()
    done = subprocess.run(
        [python, "-m", "compileall", "-q", "."],
        cwd=pkg.root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        found.errors.append(f"python -m compileall failed:\n{(done.stdout + done.stderr).strip()[-2000:]}")
    try:
        icon = load_manifest(pkg).get("icon")
    except PackageError:
        icon = None
    if isinstance(icon, str) and icon:
        rel = f"_assets/{icon}"
        if rel not in pkg.files:
            found.errors.append(f"icon not found in package: {rel}")
        elif any(m in (pkg.root / rel).read_text(encoding="utf-8", errors="replace") for m in TEMPLATE_ICON_MARKERS):
            found.errors.append(f"icon is still the plugin template's icon: {rel}")
    return found
