"""The versions the project states agree with each other and with what the code uses.

* `manifest.yaml` `version` has an entry in CHANGELOG.md (Keep a Changelog: `## [x.y.z] - date`,
  below an `## [Unreleased]` section).
* README.md states the minimum Dify version, and it is `meta.minimum_dify_version`.
* That minimum is the newest Dify version among the SDK features the plugin uses (the SDK's
  "Meta.MinimumDifyVersion Reference" table, dify_plugin 0.10.2's README), so raising a feature
  without raising the minimum (or the other way round) fails here.
* README.md has an "Upgrading" section about saved models and their `_detected_*` values.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "manifest.yaml").read_text(encoding="utf-8"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _source(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


# (Dify version, what the SDK table says it brought, whether this plugin uses it)
SDK_FEATURES = (
    (
        "1.5.1",
        "LLM structured output",
        lambda: "ModelFeature.STRUCTURED_OUTPUT" in _source("oai_bridge/chat/schema.py"),
    ),
    (
        "1.8.1",
        "filename in MultiModalPromptMessageContent (document inputs)",
        lambda: "part.filename" in _source("oai_bridge/chat/body.py"),
    ),
    (
        "1.11.0",
        "multimodal reranking / embeddings",
        lambda: (
            "def _invoke_multimodal" in _source("models/rerank/rerank.py")
            and "def _invoke_multimodal" in _source("models/text_embedding/text_embedding.py")
        ),
    ),
)


def test_manifest_version_is_the_release_and_meta_version_the_manifest_format() -> None:
    assert str(MANIFEST["version"]) == "0.2.0"
    # meta.version is the manifest format's version (the daemon's scaffold writes 0.0.1), not ours
    assert MANIFEST["meta"]["version"] == "0.0.1"


def test_changelog_has_the_manifest_version() -> None:
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", CHANGELOG, re.M)
    assert releases, "CHANGELOG.md has no `## [x.y.z] - YYYY-MM-DD` entries"
    assert releases[0][0] == str(MANIFEST["version"]), "the newest CHANGELOG.md entry is not manifest.yaml's version"
    assert [_version(v) for v, _ in releases] == sorted((_version(v) for v, _ in releases), reverse=True)
    assert CHANGELOG.index("## [Unreleased]") < CHANGELOG.index(f"## [{MANIFEST['version']}]")
    for section in ("### Added", "### Changed", "### Fixed"):
        assert section in CHANGELOG


def test_readme_states_the_manifest_minimum_dify_version() -> None:
    minimum = str(MANIFEST["meta"]["minimum_dify_version"])
    stated = re.findall(r"Dify (\d+\.\d+\.\d+) or later", README)
    assert stated == [minimum], f"README.md must say 'Dify {minimum} or later' once (found {stated})"
    assert f"Dify {minimum} or later" in CHANGELOG


def test_minimum_dify_version_matches_the_sdk_features_used() -> None:
    used = [(dify, what) for dify, what, uses in SDK_FEATURES if uses()]
    assert used, "no SDK feature detected: the feature checks no longer match the code"
    newest = max(used, key=lambda item: _version(item[0]))
    assert str(MANIFEST["meta"]["minimum_dify_version"]) == newest[0], (
        f"the plugin uses {newest[1]} (Dify {newest[0]}), so meta.minimum_dify_version must be {newest[0]}"
    )


def test_readme_explains_upgrading() -> None:
    section = README.split("## Upgrading", 1)
    assert len(section) == 2, "README.md needs an `## Upgrading` section"
    text = section[1].split("\n## ", 1)[0]
    for needed in ("_detected_", "save it again", "nothing breaks"):
        assert needed in text, f"the Upgrading section does not mention {needed!r}"
