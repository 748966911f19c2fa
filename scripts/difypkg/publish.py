"""A Marketplace build: the publisher's repository, contact and account, written into a staged copy.

The repository carries no owner, account or address of its own. A Marketplace build takes them
from the command line (``make package REPO=… CONTACT=… AUTHOR=…``) or from ``marketplace.toml``
beside the manifest (git-ignored, never packed), checks them against the Marketplace's rules, and
writes them into a copy of the plugin: ``manifest.yaml`` (``author``, ``repo``, ``contact``), the
README (a line linking the repository) and the provider YAML (``help``, pointing at the
repository). The copy is then packaged like the checkout; the checkout is never changed.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from difypkg.errors import PackageError
from difypkg.marketplace import EMAIL_RE, REPO_RE, SOURCE_HOSTS, author_problem
from difypkg.rules import AUTHOR_RE, load_yaml

CONFIG_FILE = "marketplace.toml"
# (key in marketplace.toml, make variable, what to put there)
FIELDS = (
    ("repo", "REPO", f"the source repository's https URL on {', '.join(SOURCE_HOSTS)}"),
    ("contact", "CONTACT", "an e-mail address for users and Marketplace reviewers"),
    ("author", "AUTHOR", "your Marketplace account, the <author> folder of your pull request"),
)
HELP_TITLE = {
    "en_US": "Source code and documentation",
    "zh_Hans": "源代码与文档",
    "ja_JP": "ソースコードとドキュメント",
    "pt_BR": "Código-fonte e documentação",
}
README_LINE = "Source code, documentation and issues: {repo}"


@dataclass(frozen=True)
class Publisher:
    """The values a Marketplace package carries."""

    repo: str
    contact: str
    author: str

    def problems(self) -> list[str]:
        found = []
        if not REPO_RE.match(self.repo):
            found.append(f"REPO {self.repo!r} is not a repository URL on {', '.join(SOURCE_HOSTS)}")
        if not EMAIL_RE.match(self.contact):
            found.append(f"CONTACT {self.contact!r} is not an e-mail address")
        if not AUTHOR_RE.match(self.author):
            found.append(f"AUTHOR {self.author!r} must match {AUTHOR_RE.pattern} (lower case, digits, _ and -)")
        elif problem := author_problem(self.author):
            found.append(f"AUTHOR {self.author!r}: {problem} (those names are Dify's own)")
        return found


def read_config(path: Path) -> dict[str, str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PackageError(f"{path.name}: cannot read: {exc}") from exc
    unknown = sorted(set(data) - {key for key, _, _ in FIELDS})
    if unknown:
        raise PackageError(f"{path.name}: unknown keys {unknown}; it holds {', '.join(k for k, _, _ in FIELDS)}")
    not_text = sorted(key for key, value in data.items() if not isinstance(value, str))
    if not_text:
        raise PackageError(f"{path.name}: {', '.join(not_text)} must be quoted text")
    return {key: value.strip() for key, value in data.items()}


def usage() -> str:
    given = " ".join(f"{var}=<{key}>" for key, var, _ in FIELDS)
    lines = "\n".join(f'  {var:<8} {key} = "…"  {what}' for key, var, what in FIELDS)
    return (
        f"set them on the command line (make package {given}) or in {CONFIG_FILE} beside manifest.yaml "
        f'(README, "Publishing to the Marketplace"):\n{lines}'
    )


def publisher(root: Path, given: Mapping[str, str | None], *, requested: bool = False) -> Publisher | None:
    """The Marketplace values from ``given`` (command line) over ``marketplace.toml``; ``None`` for a
    plain build (nothing given, no file, not ``requested``). Missing or invalid values stop the
    build with what to set."""
    config = Path(root) / CONFIG_FILE
    values = read_config(config) if config.is_file() else {}
    values.update({key: value.strip() for key, value in given.items() if value and value.strip()})
    if not values and not requested:
        return None
    missing = [var for key, var, _ in FIELDS if not values.get(key)]
    if missing:
        raise PackageError(f"a Marketplace build needs {', '.join(missing)}: {usage()}")
    found = Publisher(values["repo"], values["contact"], values["author"])
    problems = found.problems()
    if problems:
        raise PackageError("invalid Marketplace values:\n  - " + "\n  - ".join(problems))
    return found


# --- writing the values into a copy ---------------------------------------------------------------
def _set_top_level(text: str, key: str, value: str, *, after: str) -> str:
    """``key: value`` replacing an existing top-level line, else inserted after ``after``'s line."""
    line = f"{key}: {json.dumps(value)}"
    pattern = re.compile(rf"^{re.escape(key)}:.*$", re.M)
    if pattern.search(text):
        return pattern.sub(lambda _: line, text, count=1)
    anchor = re.compile(rf"^{re.escape(after)}:.*$", re.M).search(text)
    if anchor is None:
        raise PackageError(f"manifest.yaml has no top-level {after}: to place {key} after")
    return text[: anchor.end()] + "\n" + line + text[anchor.end() :]


def manifest_text(text: str, who: Publisher) -> str:
    text = _set_top_level(text, "author", who.author, after="type")
    text = _set_top_level(text, "repo", who.repo, after="author")
    return _set_top_level(text, "contact", who.contact, after="repo")


def readme_text(text: str, who: Publisher) -> str:
    """The repository link under the README's title."""
    head, _, rest = text.partition("\n")
    return f"{head}\n\n{README_LINE.format(repo=who.repo)}\n\n{rest.lstrip(chr(10))}"


def provider_text(text: str, who: Publisher) -> str:
    """The provider's ``help`` pointing at the repository (replacing any ``help`` block)."""
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    skipping = False
    for line in lines:
        if re.match(r"^help:", line):
            skipping = True
            continue
        if skipping and line.strip() and not line[0].isspace():
            skipping = False
        if not skipping:
            kept.append(line)
    block = ["help:\n", "  title:\n"]
    block += [f"    {lang}: {json.dumps(title, ensure_ascii=False)}\n" for lang, title in HELP_TITLE.items()]
    block += ["  url:\n", f"    en_US: {json.dumps(who.repo)}\n"]
    at = next((i for i, line in enumerate(kept) if line.startswith("supported_model_types:")), len(kept))
    return "".join(kept[:at] + block + kept[at:])


def stage(root: Path, files: Iterable[str], who: Publisher, dest: Path) -> Path:
    """Copy the packable ``files`` (and the ignore file) to ``dest`` with the values written in."""
    root, dest = Path(root), Path(dest)
    for rel in [*files, ".difyignore"]:
        if (root / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, dest / rel)
    manifest = load_yaml(dest / "manifest.yaml", "manifest.yaml")
    edits = {"manifest.yaml": manifest_text, "README.md": readme_text}
    for provider in (manifest.get("plugins") or {}).get("models") or [] if isinstance(manifest, dict) else []:
        edits[provider] = provider_text
    for rel, edit in edits.items():
        path = dest / rel
        if path.is_file():
            path.write_text(edit(path.read_text(encoding="utf-8"), who), encoding="utf-8")
    return dest
