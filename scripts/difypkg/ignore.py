"""``.difyignore`` as ``dify plugin package`` reads it, and the walk that picks the packed files.

go-git ``plumbing/format/gitignore`` semantics, as used by dify-plugin-daemon
``FSPluginDecoder.Walk``: a path is left out as soon as any pattern excludes it or one of its
parent directories (first match wins, nothing overrides it), ``!`` lines never re-include
anything, there are no built-in ignores, and ``.gitignore`` is read only when ``.difyignore`` is
absent.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from difypkg.errors import PackageError


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
                    upper, i = _class_char(pattern, i + 1)
                    if upper is None:
                        return None
                    hi = upper
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
