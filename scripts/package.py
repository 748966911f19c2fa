"""Build the plugin's ``.difypkg`` exactly as Dify's CLI ``dify plugin package`` does, reproducibly.

    python scripts/package.py [--out DIR] [--root DIR] [--max-size MB]

writes ``DIR/<name>-<version>.difypkg`` (default ``dist/`` in the plugin directory), prints its
path and returns it from ``main()``. Standard library only.

What the CLI does (dify-plugin-daemon: ``cmd/commandline/plugin.go``,
``pkg/plugin_packager/packager``, ``pkg/plugin_packager/decoder/fs.go``) and this script copies:

* validate first: manifest struct rules, ``_assets/`` exists, ``icon``/``icon_dark`` and every
  provider ``icon_small``/``icon_large`` language value exist in ``_assets/``;
* walk the plugin directory (directory symlinks are not followed), leaving out what matches
  ``.difyignore`` - or ``.gitignore`` only when ``.difyignore`` is absent - with go-git's
  gitignore patterns: a path is left out as soon as any pattern excludes it or one of its
  parent directories (first match wins, nothing overrides it), ``!`` lines never re-include
  anything, and there are no built-in ignores (``.git/``, ``.venv/``, ``.env`` are packed unless
  listed);
* fail when the summed uncompressed size exceeds ``--max-size`` MB (50 MiB by default),
  naming the five largest files;
* write a plain zip: one deflated entry per file, relative ``/`` paths sorted bytewise, no
  directory entries, ``manifest.yaml`` at the root.

What it adds so two builds give the same bytes: fixed timestamps (1980-01-01 00:00), fixed
permissions (regular file, 0644, Unix), fixed compression level. It also fails (instead of
building a package that Dify would install but not run) when a file the manifest or the
provider YAML names is left out by the ignore file, and on files the CLI could not read
(FIFOs, sockets, broken symlinks, symlinks to directories).
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import re
import stat
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MAX_SIZE_MB = 50  # the CLI's --max-size default, in MiB
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
COMPRESS_LEVEL = 9

VERSION_RE = re.compile(r"^\d{1,4}(\.\d{1,4}){2}(-\w{1,16})?$")
AUTHOR_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
NAME_RE = re.compile(r"^[a-z0-9_-]{1,128}$")
I18N_LANGS = ("en_US", "zh_Hans", "ja_JP", "pt_BR")
ARCHES = {"amd64", "arm64"}
OTHER_PLUGIN_KINDS = ("tools", "endpoints", "agent_strategies", "datasources", "triggers")


class PackageError(Exception):
    """The plugin cannot be packaged (the message says what to fix)."""


# ---------------------------------------------------------------------------------------------
# .difyignore: go-git plumbing/format/gitignore semantics, as used by FSPluginDecoder.Walk
# ---------------------------------------------------------------------------------------------
def _go_glob_regex(pattern: str) -> re.Pattern[str] | None:
    """Go's ``path/filepath.Match`` syntax as a regex; None for a malformed pattern (Go returns
    ErrBadPattern, which go-git treats as "no match")."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            i += 1
            if i >= n:
                return None
            out.append(re.escape(pattern[i]))
        elif c == "[":
            i += 1
            negate = i < n and pattern[i] == "^"
            if negate:
                i += 1
            items: list[str] = []
            count = 0
            while True:
                if i >= n:
                    return None
                if pattern[i] == "]" and count > 0:
                    break
                lo, i = _class_char(pattern, i)
                if lo is None:
                    return None
                hi = lo
                if i < n and pattern[i] == "-":
                    hi, i = _class_char(pattern, i + 1)
                    if hi is None:
                        return None
                count += 1
                if lo <= hi:  # Go accepts lo > hi: a range that matches nothing
                    items.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
            body = "".join(items)
            if negate:
                out.append(f"[^/{body}]" if body else "[^/]")
            else:
                out.append(f"[{body}]" if body else "(?!)")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _class_char(pattern: str, i: int) -> tuple[str | None, int]:
    """Go's ``getEsc``: one (possibly escaped) class character; ``-`` and ``]`` are errors."""
    if i >= len(pattern) or pattern[i] in "-]":
        return None, i
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            return None, i
    return pattern[i], i + 1


def _go_match(pattern: str, name: str) -> bool:
    regex = _go_glob_regex(pattern)
    return regex is not None and regex.fullmatch(name) is not None


@dataclass(frozen=True)
class IgnorePattern:
    """One line of ``.difyignore`` (go-git ``gitignore.ParsePattern(line, nil)``)."""

    line: str
    segments: tuple[str, ...]
    negated: bool
    dir_only: bool
    is_glob: bool

    @classmethod
    def parse(cls, line: str) -> IgnorePattern:
        p = line
        negated = p.startswith("!")
        if negated:
            p = p[1:]
        if not p.endswith("\\ "):
            p = p.rstrip(" ")
        dir_only = p.endswith("/")
        if dir_only:
            p = p[:-1]
        return cls(line, tuple(p.split("/")), negated, dir_only, "/" in p)

    def excludes(self, parts: Sequence[str], is_dir: bool) -> bool:
        """True when go-git's ``Match`` returns ``Exclude``. A ``!`` pattern yields at most
        ``Include``, which the CLI's walk ignores: it never excludes and never re-includes."""
        if self.negated or not parts:
            return False
        return self._glob_match(parts, is_dir) if self.is_glob else self._name_match(parts, is_dir)

    def _name_match(self, parts: Sequence[str], is_dir: bool) -> bool:
        # no "/" in the pattern: it matches the name of ANY component of the path
        for index, name in enumerate(parts):
            if not _go_match(self.segments[0], name):
                continue
            return not (self.dir_only and not is_dir and index == len(parts) - 1)
        return False

    def _glob_match(self, parts: Sequence[str], is_dir: bool) -> bool:
        # a "/" in the pattern anchors it at the root; "**" spans directories
        path = list(parts)
        matched = False
        traverse = False
        for index, segment in enumerate(self.segments):
            if segment == "":
                traverse = False
                continue
            if segment == "**":
                if index == len(self.segments) - 1:
                    break
                traverse = True
                continue
            if "**" in segment:
                return False
            if not path:
                return False
            if traverse:
                traverse = False
                while path:
                    head = path.pop(0)
                    if _go_match(segment, head):
                        matched = True
                        break
                    if not path:
                        matched = False
            else:
                if not _go_match(segment, path[0]):
                    return False
                matched = True
                path.pop(0)
        if matched and self.dir_only and not is_dir and not path:
            matched = False
        return matched


@dataclass
class IgnoreRules:
    """The patterns of ``.difyignore`` (or ``.gitignore``) and which file they came from."""

    patterns: list[IgnorePattern] = field(default_factory=list)
    source: str | None = None

    @classmethod
    def parse(cls, text: str, source: str | None = None) -> IgnoreRules:
        patterns = []
        for raw in text.split("\n"):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            patterns.append(IgnorePattern.parse(line))
        return cls(patterns, source)

    @classmethod
    def load(cls, root: Path) -> IgnoreRules:
        for name in (".difyignore", ".gitignore"):
            try:
                text = (root / name).read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            return cls.parse(text, name)
        return cls()

    def ignored(self, relpath: str, is_dir: bool = False) -> bool:
        """Whether ``relpath`` (``/``-separated, relative to the root) itself matches. The walk
        also leaves out everything under an ignored directory: see ``is_packed``."""
        parts = relpath.split("/")
        return any(p.excludes(parts, is_dir) for p in self.patterns)

    def first_match(self, relpath: str, is_dir: bool = False) -> IgnorePattern | None:
        parts = relpath.split("/")
        return next((p for p in self.patterns if p.excludes(parts, is_dir)), None)

    def is_packed(self, relpath: str) -> bool:
        """Whether the walk would pack the file ``relpath``: neither it nor a parent directory
        is ignored."""
        parts = relpath.split("/")
        for depth in range(1, len(parts)):
            if self.ignored("/".join(parts[:depth]), is_dir=True):
                return False
        return not self.ignored(relpath, is_dir=False)


# ---------------------------------------------------------------------------------------------
# the walk
# ---------------------------------------------------------------------------------------------
def collect_files(root: Path, rules: IgnoreRules | None = None) -> list[str]:
    """Relative ``/`` paths of every file the CLI would pack, sorted bytewise like the CLI.
    Directories are not followed through symlinks (Go's ``filepath.WalkDir``); a symlink to a
    file is packed with the target's content; anything the CLI could not read is an error."""
    root = Path(root)
    if rules is None:
        rules = IgnoreRules.load(root)
    found: list[str] = []

    def walk(directory: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise PackageError(f"cannot list {directory}: {exc}") from exc
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            is_dir = entry.is_dir(follow_symlinks=False)
            if rules.ignored(rel, is_dir):
                continue
            if is_dir:
                walk(Path(entry.path), rel + "/")
                continue
            try:
                st = os.stat(entry.path)  # follows a symlink, like os.ReadFile does
            except OSError as exc:
                raise PackageError(f"{rel}: cannot read ({exc}); fix it or list it in .difyignore") from exc
            if not stat.S_ISREG(st.st_mode):
                kind = "a symlink to a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
                raise PackageError(f"{rel} is {kind}: the CLI cannot pack it; remove it or list it in .difyignore")
            found.append(rel)

    walk(root, "")
    found.sort(key=lambda p: p.encode("utf-8"))
    return found


# ---------------------------------------------------------------------------------------------
# a small block-YAML reader (stdlib only): enough for manifest.yaml and the provider YAML
# ---------------------------------------------------------------------------------------------
class _Opaque(str):
    """A value this reader does not interpret (flow collection, alias, tag)."""


_INT_RE = re.compile(r"^[-+]?\d+$")


def _strip_comment(text: str) -> str:
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote and quote == "'" and text[i + 1 : i + 2] == "'":
                i += 1  # '' inside single quotes
            elif c == quote:
                quote = ""
            elif c == "\\" and quote == '"':
                i += 1  # an escaped character inside double quotes
        elif c in "'\"" and (i == 0 or text[i - 1] in " \t:[{,-"):
            quote = c
        elif c == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
        i += 1
    return text.rstrip()


def _split_key(text: str) -> tuple[str, str] | None:
    """``key: rest`` -> (key, rest); None when the line is not a mapping entry."""
    if text[:1] in "'\"":
        quote = text[0]
        end = text.find(quote, 1)
        while quote == "'" and end != -1 and text[end + 1 : end + 2] == "'":
            end = text.find(quote, end + 2)
        if end == -1 or not text[end + 1 :].startswith(":"):
            return None
        rest = text[end + 2 :]
        if rest and not rest.startswith((" ", "\t")):
            return None
        return _scalar(text[: end + 1]), rest.strip()
    match = re.match(r"^([^\s#'\"][^#]*?)\s*:(?:\s+|$)(.*)$", text)
    if match is None or match.group(1).startswith(("- ", "[", "{")):
        return None
    return match.group(1), match.group(2).strip()


def _scalar(text: str) -> Any:
    text = text.strip()
    if not text:
        return None
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        try:
            return json.loads(text)
        except ValueError:
            return text[1:-1]
    if text[0] in "[{*!|>":
        return _Opaque(text)
    if text in ("~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT_RE.match(text):
        return int(text)
    return text


class _Reader:
    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines: list[tuple[int, str, int]] = []  # indent, content, line number
        for number, raw in enumerate(text.splitlines(), 1):
            if raw.strip() in ("---", "...") and not raw.startswith(" "):
                continue
            if "\t" in raw[: len(raw) - len(raw.lstrip())]:
                raise PackageError(f"{source}:{number}: tab in indentation")
            content = _strip_comment(raw)
            if content.strip():
                self.lines.append((len(content) - len(content.lstrip(" ")), content.strip(), number))
        self.pos = 0
        self.raw_lines = text.splitlines()

    def error(self, message: str) -> PackageError:
        number = self.lines[self.pos][2] if self.pos < len(self.lines) else len(self.raw_lines)
        return PackageError(f"{self.source}:{number}: {message}")

    def parse(self) -> Any:
        if not self.lines:
            return None
        value = self.block(self.lines[0][0])
        if self.pos < len(self.lines):
            raise self.error("unexpected indentation")
        return value

    def block(self, indent: int) -> Any:
        text = self.lines[self.pos][1]
        if text == "-" or text.startswith("- "):
            return self.sequence(indent)
        if _split_key(text) is not None:
            return self.mapping(indent)
        self.pos += 1
        return _scalar(text)

    def _value(self, rest: str, indent: int, allow_same_indent_seq: bool) -> Any:
        if rest.startswith("&"):  # anchor: the value follows it
            rest = rest.split(None, 1)[1] if " " in rest else ""
        if rest[:1] in ("|", ">"):
            return self.block_scalar(indent)
        if rest:
            # a plain or quoted scalar may go on over more-indented lines (folded with spaces)
            while self.pos < len(self.lines) and self.lines[self.pos][0] > indent:
                rest += " " + self.lines[self.pos][1]
                self.pos += 1
            return _scalar(rest)
        if self.pos < len(self.lines):
            next_indent, next_text = self.lines[self.pos][:2]
            if next_indent > indent:
                return self.block(next_indent)
            if allow_same_indent_seq and next_indent == indent and (next_text == "-" or next_text.startswith("- ")):
                return self.sequence(indent)
        return None

    def block_scalar(self, indent: int) -> str:
        start = self.lines[self.pos - 1][2]  # line number of the key (1-based)
        body: list[str] = []
        end = start
        for number in range(start, len(self.raw_lines)):
            raw = self.raw_lines[number]
            if raw.strip() and len(raw) - len(raw.lstrip(" ")) <= indent:
                break
            body.append(raw.strip())
            end = number + 1
        while self.pos < len(self.lines) and self.lines[self.pos][2] <= end:
            self.pos += 1
        return "\n".join(body).strip("\n")

    def mapping(self, indent: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while self.pos < len(self.lines):
            line_indent, text, _ = self.lines[self.pos]
            if line_indent < indent:
                break
            if line_indent > indent:
                raise self.error("unexpected indentation")
            pair = _split_key(text)
            if pair is None:
                break
            key, rest = pair
            if key in result:
                raise self.error(f"duplicate key {key!r}")
            self.pos += 1
            result[key] = self._value(rest, indent, allow_same_indent_seq=True)
        return result

    def sequence(self, indent: int) -> list[Any]:
        result: list[Any] = []
        while self.pos < len(self.lines):
            line_indent, text, number = self.lines[self.pos]
            if line_indent != indent or not (text == "-" or text.startswith("- ")):
                if line_indent > indent:
                    raise self.error("unexpected indentation")
                break
            rest = text[1:].lstrip(" ")
            if not rest:
                self.pos += 1
                result.append(self._value("", indent, allow_same_indent_seq=False))
                continue
            item_indent = indent + (len(text) - len(rest))
            if _split_key(rest) is not None or rest == "-" or rest.startswith("- "):
                # "- key: value": a nested block starting at the item's column
                self.lines[self.pos] = (item_indent, rest, number)
                result.append(self.block(item_indent))
            else:
                self.pos += 1
                result.append(self._value(rest, item_indent, allow_same_indent_seq=False))
        return result


def read_yaml(path: Path, source: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackageError(f"{source}: cannot read: {exc}") from exc
    return _Reader(text, source).parse()


# ---------------------------------------------------------------------------------------------
# the CLI's checks (manifest struct rules, assets) plus "is every named file packed"
# ---------------------------------------------------------------------------------------------
def _i18n(value: Any, where: str, errors: list[str], *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, dict):
        errors.append(f"{where}: must be a mapping of languages ({', '.join(I18N_LANGS)})")
        return
    if not isinstance(value.get("en_US"), str) or not value["en_US"]:
        errors.append(f"{where}.en_US is required")
    for lang, text in value.items():
        if lang not in I18N_LANGS:
            errors.append(f"{where}: language {lang!r} is not one of {', '.join(I18N_LANGS)}")
        elif not isinstance(text, str) or len(text) >= 1024:
            errors.append(f"{where}.{lang}: must be text shorter than 1024 characters")


def _rfc3339(value: Any) -> bool:
    if isinstance(value, datetime.datetime):
        return value.tzinfo is not None
    if not isinstance(value, str) or not re.match(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}", value):
        return False
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def validate(root: Path, packed: Iterable[str]) -> dict[str, Any]:
    """Run the checks; raises ``PackageError`` listing every problem. Returns the manifest."""
    root = Path(root)
    packed_set = set(packed)
    errors: list[str] = []
    if not (root / "manifest.yaml").is_file():
        raise PackageError(f"{root}: manifest.yaml is missing")
    manifest = read_yaml(root / "manifest.yaml", "manifest.yaml")
    if not isinstance(manifest, dict):
        raise PackageError("manifest.yaml: not a mapping")

    def need_packed(relpath: str, why: str) -> None:
        if (root / relpath).is_file() and relpath not in packed_set:
            errors.append(f"{relpath} ({why}) is left out by the ignore file: the installed plugin would lack it")

    # struct rules
    if not isinstance(manifest.get("version"), str) or not VERSION_RE.match(manifest["version"]):
        errors.append(f"manifest.yaml: version {manifest.get('version')!r} does not match {VERSION_RE.pattern}")
    if manifest.get("type") != "plugin":
        errors.append(f"manifest.yaml: type must be 'plugin', not {manifest.get('type')!r}")
    if not isinstance(manifest.get("author"), str) or not AUTHOR_RE.match(manifest["author"]):
        errors.append(f"manifest.yaml: author {manifest.get('author')!r} does not match {AUTHOR_RE.pattern}")
    if not isinstance(manifest.get("name"), str) or not NAME_RE.match(manifest["name"]):
        errors.append(f"manifest.yaml: name {manifest.get('name')!r} does not match {NAME_RE.pattern}")
    _i18n(manifest.get("label"), "manifest.yaml: label", errors)
    _i18n(manifest.get("description"), "manifest.yaml: description", errors)
    if not _rfc3339(manifest.get("created_at")):
        errors.append(f"manifest.yaml: created_at {manifest.get('created_at')!r} is not an RFC 3339 time")

    resource = manifest.get("resource") if isinstance(manifest.get("resource"), dict) else {}
    memory = resource.get("memory")
    if not isinstance(memory, int) or isinstance(memory, bool) or memory <= 0:
        errors.append(f"manifest.yaml: resource.memory must be a positive number of bytes, not {memory!r}")

    meta = manifest.get("meta") if isinstance(manifest.get("meta"), dict) else {}
    if not isinstance(meta.get("version"), str) or not VERSION_RE.match(meta["version"]):
        errors.append(f"manifest.yaml: meta.version {meta.get('version')!r} does not match {VERSION_RE.pattern}")
    arch = meta.get("arch")
    if not isinstance(arch, list) or not arch or not set(arch) <= ARCHES:
        errors.append(f"manifest.yaml: meta.arch must be a non-empty subset of {sorted(ARCHES)}, not {arch!r}")
    runner = meta.get("runner") if isinstance(meta.get("runner"), dict) else {}
    if runner.get("language") != "python":
        errors.append(f"manifest.yaml: meta.runner.language must be 'python', not {runner.get('language')!r}")
    if not runner.get("version"):
        errors.append("manifest.yaml: meta.runner.version is required")
    entrypoint = runner.get("entrypoint")
    if not isinstance(entrypoint, str) or not entrypoint:
        errors.append("manifest.yaml: meta.runner.entrypoint is required")

    # _assets and the plugin icons
    assets = root / "_assets"
    has_assets = assets.is_dir()
    if not has_assets:
        errors.append("_assets/ is missing (the CLI reads the icons from it; the SDK exits without it)")

    def need_asset(name: Any, what: str) -> None:
        if not has_assets:
            return
        if not isinstance(name, str) or not name or not (assets / name).is_file():
            errors.append(f"{what} {name!r} not found in _assets/")
        else:
            need_packed(f"_assets/{name}", what)

    icon = manifest.get("icon")
    if not isinstance(icon, str) or not icon or len(icon) > 128:
        errors.append(f"manifest.yaml: icon is required (at most 128 characters), not {icon!r}")
    else:
        need_asset(icon, "plugin icon")
    if manifest.get("icon_dark"):
        need_asset(manifest["icon_dark"], "plugin dark icon")

    privacy = manifest.get("privacy")
    if privacy:
        if not isinstance(privacy, str) or not (root / privacy).is_file():
            errors.append(f"manifest.yaml: privacy {privacy!r} does not exist")
        else:
            need_packed(privacy, "manifest privacy")

    # plugins: exactly one model provider YAML and nothing else
    plugins = manifest.get("plugins") if isinstance(manifest.get("plugins"), dict) else {}
    models = plugins.get("models") or []
    if not isinstance(models, list) or len(models) != 1:
        errors.append(f"manifest.yaml: plugins.models must list exactly one provider YAML, not {models!r}")
    for kind in OTHER_PLUGIN_KINDS:
        if plugins.get(kind):
            errors.append(f"manifest.yaml: a model plugin may declare nothing but plugins.models (found {kind})")
    for provider_path in models if isinstance(models, list) else []:
        if not isinstance(provider_path, str) or not (root / provider_path).is_file():
            errors.append(f"manifest.yaml: provider YAML {provider_path!r} does not exist")
            continue
        need_packed(provider_path, "provider YAML")
        provider = read_yaml(root / provider_path, provider_path)
        if not isinstance(provider, dict):
            errors.append(f"{provider_path}: not a mapping")
            continue
        if not isinstance(provider.get("provider"), str) or not 0 < len(provider["provider"]) < 256:
            errors.append(f"{provider_path}: provider must be a name shorter than 256 characters")
        for key in ("icon_small", "icon_large"):
            value = provider.get(key)
            if value is None:
                continue
            if not isinstance(value, dict):
                errors.append(f"{provider_path}: {key} must be a mapping of languages")
                continue
            for lang in I18N_LANGS:
                if value.get(lang):
                    need_asset(value[lang], f"model {key.replace('_', ' ')} {lang}")
        python = ((provider.get("extra") or {}) if isinstance(provider.get("extra"), dict) else {}).get("python")
        if isinstance(python, dict):
            sources = [python.get("provider_source"), *(python.get("model_sources") or [])]
            for source in sources:
                if not isinstance(source, str) or not (root / source).is_file():
                    errors.append(f"{provider_path}: extra.python source {source!r} does not exist")
                else:
                    need_packed(source, "extra.python source")

    # what the daemon needs to install and start the plugin
    if not (root / "requirements.txt").is_file() and not (root / "pyproject.toml").is_file():
        errors.append("neither requirements.txt nor pyproject.toml exists: the daemon cannot install the plugin")
    need_packed("requirements.txt", "installed by the daemon")
    if isinstance(entrypoint, str) and entrypoint:
        module = entrypoint.replace(".", "/")
        if (root / f"{module}.py").is_file():
            need_packed(f"{module}.py", "meta.runner.entrypoint")
        elif not (root / module / "__main__.py").is_file():
            errors.append(f"manifest.yaml: entrypoint {entrypoint!r} has no {module}.py")

    if "manifest.yaml" not in packed_set:
        errors.append("manifest.yaml is left out by the ignore file")
    if errors:
        raise PackageError("invalid plugin:\n  - " + "\n  - ".join(errors))
    return manifest


# ---------------------------------------------------------------------------------------------
# the archive
# ---------------------------------------------------------------------------------------------
def check_size(root: Path, files: Sequence[str], max_size: int) -> int:
    """The CLI's limit on the summed uncompressed size; returns the total."""
    sizes = [(rel, (Path(root) / rel).stat().st_size) for rel in files]
    total = sum(size for _, size in sizes)
    if total > max_size:
        top = sorted(sizes, key=lambda item: item[1], reverse=True)[:5]
        listing = "\n".join(f"{i}. name: {rel}, size: {size} bytes" for i, (rel, size) in enumerate(top, 1))
        raise PackageError(
            f"Plugin package size is too large ({total} bytes). Please ensure the uncompressed size is less "
            f"than {max_size} bytes.\nPackaged file info:\n{listing}\n"
            f"List what the plugin does not need in .difyignore."
        )
    return total


def build_archive(root: Path, files: Sequence[str]) -> bytes:
    """The zip bytes: sorted entries, no directories, fixed time, mode and compression."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for rel in sorted(files, key=lambda p: p.encode("utf-8")):
            info = zipfile.ZipInfo(rel, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = (stat.S_IFREG | FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (Path(root) / rel).read_bytes(), zipfile.ZIP_DEFLATED, COMPRESS_LEVEL)
    return buffer.getvalue()


def package(root: Path = ROOT, out_dir: Path | None = None, max_size: int = DEFAULT_MAX_SIZE_MB << 20) -> Path:
    """Validate, select, size-check and write ``<out_dir>/<name>-<version>.difypkg``."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise PackageError(f"{root} is not a directory")
    out_dir = Path(out_dir) if out_dir is not None else root / "dist"
    files = collect_files(root)
    manifest = validate(root, files)
    check_size(root, files, max_size)
    data = build_archive(root, files)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['name']}-{manifest['version']}.difypkg"
    fd, tmp = tempfile.mkstemp(prefix=".difypkg-", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description="Build the plugin's .difypkg like `dify plugin package`.")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: <root>/dist)")
    parser.add_argument("--root", type=Path, default=ROOT, help="plugin directory (default: this checkout)")
    parser.add_argument(
        "--max-size", type=int, default=DEFAULT_MAX_SIZE_MB, help="uncompressed size limit in MiB (default 50)"
    )
    args = parser.parse_args(argv)
    max_mb = args.max_size if args.max_size > 0 else DEFAULT_MAX_SIZE_MB  # the CLI's fallback too
    return package(args.root, args.out, max_mb << 20)


if __name__ == "__main__":
    try:
        path = main()
    except PackageError as exc:
        sys.stderr.write(f"package: {exc}\n")
        sys.exit(1)
    sys.stdout.write(f"{path}\n")
