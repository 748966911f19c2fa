"""The plugin's declarations against the rules Dify's daemon and SDK apply to them.

Sources of the rules: /work/shared/docs/dify-runtime.md ("manifest.yaml rules", "Provider YAML
rules", "Install and launch"), dify-plugin-daemon `pkg/entities/plugin_entities/*.go` (struct
validators) and `pkg/plugin_packager/decoder/fs.go` (`.difyignore`), dify_plugin 0.10.2
(`core/plugin_registration.py`, `interfaces/model/ai_model.py`).

Every rule reads the real files. The YAML is loaded with PyYAML like the SDK does, but without
timestamp resolution (so `created_at` stays text) and with duplicate keys rejected (the daemon's
Go yaml.v3 rejects them, PyYAML would silently keep the last one).
"""

from __future__ import annotations

import datetime
import os
import re
import warnings
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

with warnings.catch_warnings():
    # Importing the SDK monkeypatches the process with gevent (which warns when ssl was imported
    # first) and trips pydantic deprecation warnings inside the SDK: neither is checked here.
    warnings.simplefilter("ignore")
    from dify_plugin.core.entities.plugin.setup import PluginConfiguration
    from dify_plugin.core.utils.yaml_loader import load_yaml_file
    from dify_plugin.entities.model.provider import ModelProviderConfiguration

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "_assets"
MANIFEST_PATH = ROOT / "manifest.yaml"
PROVIDER_RELPATH = "provider/openai_compatible_bridge.yaml"
PROVIDER_PATH = ROOT / PROVIDER_RELPATH


# --- loading ---------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as text and refuses duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    assert isinstance(data, dict), f"{path.name} must be a YAML mapping"
    return data


MANIFEST = _load(MANIFEST_PATH)
PROVIDER = _load(PROVIDER_PATH)
DOCUMENTS = {"manifest": MANIFEST, "provider": PROVIDER}
FORM: list[dict[str, Any]] = PROVIDER["model_credential_schema"]["credential_form_schemas"]
FORM_IDS = [str(item.get("variable", f"item{i}")) for i, item in enumerate(FORM)]


# --- I18n objects ----------------------------------------------------------------------------

LANGUAGES = ("en_US", "zh_Hans", "ja_JP", "pt_BR")
LOCALE_LIKE = re.compile(r"^[a-z]{2}[_-][A-Za-z]{2,4}$")
I18N_KEYS = {
    "label",
    "description",
    "placeholder",
    "title",
    "url",
    "icon_small",
    "icon_large",
    "icon_small_dark",
    "icon_large_dark",
}


def _is_i18n_slot(key: object, value: object) -> bool:
    if key in I18N_KEYS:
        return True
    if key == "help":  # the provider's `help` is {title, url}; a form item's `help` is I18n
        return not (isinstance(value, dict) and {"title", "url"} & value.keys())
    return isinstance(value, dict) and any(LOCALE_LIKE.match(str(k)) for k in value)


def _iter_i18n(node: object, path: str = "") -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if _is_i18n_slot(key, value):
                found.append((child, value))
            else:
                found.extend(_iter_i18n(value, child))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found.extend(_iter_i18n(item, f"{path}[{index}]"))
    return found


I18N_OBJECTS = [(f"{doc}:{path}", obj) for doc, data in DOCUMENTS.items() for path, obj in _iter_i18n(data)]


def test_i18n_collector_finds_every_declared_text() -> None:
    found = {path for path, _ in I18N_OBJECTS}
    expected = {
        "manifest:label",
        "manifest:description",
        "provider:label",
        "provider:description",
        "provider:icon_small",
        "provider:icon_large",
        "provider:help.title",
        "provider:help.url",
        "provider:model_credential_schema.model.label",
        "provider:model_credential_schema.model.placeholder",
    }
    expected |= {f"provider:model_credential_schema.credential_form_schemas[{i}].label" for i in range(len(FORM))}
    assert expected <= found, f"not recognised as I18n: {sorted(expected - found)}"


@pytest.mark.parametrize(("path", "obj"), I18N_OBJECTS, ids=[p for p, _ in I18N_OBJECTS])
def test_i18n_object_has_en_us_only_known_languages_and_short_texts(path: str, obj: object) -> None:
    assert isinstance(obj, dict), f"{path} must be an I18n mapping, got {obj!r}"
    assert "en_US" in obj, f"{path} lacks en_US"
    unknown = set(obj) - set(LANGUAGES)
    assert not unknown, f"{path} has languages Dify does not know: {sorted(unknown)}"
    for language, text in obj.items():
        assert isinstance(text, str), f"{path}.{language} must be a string, got {text!r}"
        assert text.strip(), f"{path}.{language} is empty"
        assert len(text) < 1024, f"{path}.{language} has {len(text)} chars (limit < 1024)"


def _form_texts() -> list[tuple[str, object]]:
    texts: list[tuple[str, object]] = []
    model_field = PROVIDER["model_credential_schema"]["model"]
    texts += [(f"model.{key}", model_field[key]) for key in ("label", "placeholder") if key in model_field]
    for variable, item in zip(FORM_IDS, FORM, strict=True):
        texts += [(f"{variable}.{key}", item[key]) for key in ("label", "placeholder", "help") if key in item]
        for index, option in enumerate(item.get("options") or []):
            texts.append((f"{variable}.options[{index}].label", option.get("label")))
    return texts


FORM_TEXTS = _form_texts()


@pytest.mark.parametrize(("path", "obj"), FORM_TEXTS, ids=[p for p, _ in FORM_TEXTS])
def test_form_text_is_translated_into_all_four_languages(path: str, obj: object) -> None:
    assert isinstance(obj, dict), f"{path} must be an I18n mapping, got {obj!r}"
    missing = [lang for lang in LANGUAGES if not (isinstance(obj.get(lang), str) and obj[lang].strip())]
    assert not missing, f"{path} lacks {missing}"


# --- manifest.yaml ---------------------------------------------------------------------------

VERSION_RE = re.compile(r"^\d{1,4}(\.\d{1,4}){2}(-\w{1,16})?$")
RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# Top-level keys of the daemon's PluginDeclaration (plugin_declaration.go); others are ignored
# silently, so a misspelt `privacy`/`icon_dark` would go unnoticed.
MANIFEST_KEYS = {"version", "type", "author", "name", "label", "description", "icon", "icon_dark"}
MANIFEST_KEYS |= {"resource", "plugins", "meta", "tags", "created_at", "privacy", "repo", "verified"}
MODEL_PERMISSIONS = {"enabled", "llm", "text_embedding", "rerank", "tts", "speech2text", "moderation"}


def test_manifest_has_only_keys_the_daemon_knows() -> None:
    assert set(MANIFEST) <= MANIFEST_KEYS, f"unknown keys: {sorted(set(MANIFEST) - MANIFEST_KEYS)}"


@pytest.mark.parametrize("field", ["version", "meta.version"])
def test_manifest_versions_match_daemon_pattern(field: str) -> None:
    value = MANIFEST["version"] if field == "version" else MANIFEST["meta"]["version"]
    assert isinstance(value, str), f"{field} must be a YAML string, got {value!r}"
    assert VERSION_RE.fullmatch(value), f"{field}={value!r} does not match {VERSION_RE.pattern}"


def test_manifest_type_is_plugin() -> None:
    assert MANIFEST["type"] == "plugin"


def test_manifest_author_matches_daemon_pattern() -> None:
    assert isinstance(MANIFEST.get("author"), str)
    assert re.fullmatch(r"[a-z0-9_-]{1,64}", MANIFEST["author"])


def test_manifest_name_matches_daemon_pattern() -> None:
    assert isinstance(MANIFEST.get("name"), str)
    assert re.fullmatch(r"[a-z0-9_-]{1,128}", MANIFEST["name"])


@pytest.mark.parametrize("field", ["label", "description"])
def test_manifest_label_and_description_are_i18n_with_en_us(field: str) -> None:
    assert isinstance(MANIFEST.get(field), dict) and MANIFEST[field].get("en_US")


@pytest.mark.parametrize(("field", "required"), [("icon", True), ("icon_dark", False)])
def test_manifest_icon_is_a_short_path_to_a_file_directly_in_assets(field: str, required: bool) -> None:
    if field not in MANIFEST:
        assert not required, f"manifest.{field} is required"
        return
    value = MANIFEST[field]
    assert isinstance(value, str) and 0 < len(value) <= 128, f"{field}={value!r} (≤128 chars)"
    # the SDK sends only the top-level files of _assets/ (PluginRegistration._load_plugin_assets)
    assert (ASSETS / value).is_file() and (ASSETS / value).parent == ASSETS, f"_assets/{value} missing"
    assert (ASSETS / value).stat().st_size > 0, f"_assets/{value} is empty"


def test_assets_directory_exists_because_the_sdk_exits_without_it() -> None:
    assert ASSETS.is_dir()


def test_manifest_memory_is_a_positive_byte_count() -> None:
    memory = MANIFEST["resource"]["memory"]
    assert isinstance(memory, int) and not isinstance(memory, bool) and memory > 0


def test_manifest_model_permissions_are_booleans() -> None:
    model = MANIFEST["resource"]["permission"]["model"]
    assert isinstance(model, dict) and model, "resource.permission.model must be a mapping"
    assert set(model) <= MODEL_PERMISSIONS, f"unknown permissions: {sorted(set(model) - MODEL_PERMISSIONS)}"
    not_bool = {key: value for key, value in model.items() if not isinstance(value, bool)}
    assert not not_bool, f"non-boolean permissions: {not_bool}"


def test_manifest_declares_exactly_one_model_provider_and_nothing_else() -> None:
    plugins = MANIFEST["plugins"]
    assert plugins.get("models") == [PROVIDER_RELPATH]
    others = {key: value for key, value in plugins.items() if key != "models" and value}
    assert not others, f"a model plugin may declare nothing else: {others}"
    assert all(len(path) <= 128 for path in plugins["models"])
    assert (ROOT / plugins["models"][0]).is_file()


def test_manifest_arch_is_a_subset_of_amd64_and_arm64() -> None:
    arch = MANIFEST["meta"]["arch"]
    assert isinstance(arch, list) and arch, "meta.arch must be a non-empty list"
    assert set(arch) <= {"amd64", "arm64"}, arch


def test_manifest_runner_is_python_312_with_main_entrypoint() -> None:
    assert MANIFEST["meta"]["runner"] == {"language": "python", "version": "3.12", "entrypoint": "main"}


def test_manifest_entrypoint_module_exists() -> None:
    # the daemon runs `python -m <entrypoint>` in the plugin directory
    assert (ROOT / f"{MANIFEST['meta']['runner']['entrypoint']}.py").is_file()


def test_manifest_created_at_is_rfc3339() -> None:
    created_at = MANIFEST["created_at"]
    assert isinstance(created_at, str) and RFC3339_RE.fullmatch(created_at), created_at
    datetime.datetime.fromisoformat(created_at)  # rejects impossible dates such as month 13


def test_manifest_privacy_file_exists() -> None:
    privacy = MANIFEST.get("privacy")
    assert isinstance(privacy, str) and privacy, "privacy (PRIVACY.md) is required for Marketplace"
    assert (ROOT / privacy).is_file() and (ROOT / privacy).read_text(encoding="utf-8").strip()


def test_manifest_validates_against_the_sdk_plugin_configuration() -> None:
    config = PluginConfiguration.model_validate(load_yaml_file(str(MANIFEST_PATH)))
    assert config.name == MANIFEST["name"]
    assert config.plugins.models == [PROVIDER_RELPATH]


# --- provider YAML ---------------------------------------------------------------------------

MODEL_TYPES = {"llm", "text-embedding", "speech2text", "tts"}
FORM_TYPES = {"text-input", "secret-input", "select", "radio", "switch"}


def test_provider_name_equals_manifest_name() -> None:
    assert PROVIDER["provider"] == "openai_compatible_bridge" == MANIFEST["name"]
    assert len(PROVIDER["provider"]) < 256


def test_provider_label_is_openai_compatible_bridge() -> None:
    assert PROVIDER["label"]["en_US"] == "OpenAI-Compatible Bridge"


@pytest.mark.parametrize("field", ["icon_small", "icon_large", "icon_small_dark", "icon_large_dark"])
def test_provider_icons_exist_in_assets_for_every_language(field: str) -> None:
    if field not in PROVIDER:
        assert field.endswith("_dark"), f"{field} is required"
        return
    icons = PROVIDER[field]
    assert isinstance(icons, dict) and icons, f"{field} must be an I18n mapping"
    for language, name in icons.items():
        assert isinstance(name, str) and (ASSETS / name).is_file(), f"{field}.{language}: _assets/{name}"
        assert (ASSETS / name).parent == ASSETS, f"{field}.{language} must be directly in _assets/"


def test_provider_supports_llm_text_embedding_and_audio() -> None:
    assert PROVIDER["supported_model_types"] == ["llm", "text-embedding", "speech2text", "tts"]


def test_provider_is_configured_per_model() -> None:
    # `fetch-from-remote` is not accepted by the daemon, whatever the docs say
    assert PROVIDER["configurate_methods"] == ["customizable-model"]


def test_model_field_has_a_label() -> None:
    model = PROVIDER["model_credential_schema"]["model"]
    assert isinstance(model.get("label"), dict) and model["label"].get("en_US")


def test_form_has_at_most_32_items_with_unique_variables() -> None:
    assert 0 < len(FORM) <= 32
    assert len(set(FORM_IDS)) == len(FORM_IDS), f"duplicate variables: {FORM_IDS}"


def _check_show_on(where: str, show_on: object) -> None:
    assert isinstance(show_on, list), f"{where}.show_on must be a list"
    assert len(show_on) <= 16, f"{where}.show_on has {len(show_on)} pairs (≤16)"
    for pair in show_on:
        assert isinstance(pair, dict) and set(pair) == {"variable", "value"}, f"{where}.show_on: {pair!r}"
        variable, value = pair["variable"], pair["value"]
        assert isinstance(variable, str) and isinstance(value, str) and value, f"{where}.show_on: {pair!r}"
        assert len(variable) < 256 and len(value) < 256
        if variable == "__model_type":
            assert value in MODEL_TYPES, f"{where}: __model_type {value!r} not in {sorted(MODEL_TYPES)}"
        else:
            assert variable in FORM_IDS, f"{where}: show_on refers to unknown variable {variable!r}"


@pytest.mark.parametrize("item", FORM, ids=FORM_IDS)
def test_form_item_is_well_formed(item: dict[str, Any]) -> None:
    variable = item.get("variable")
    assert isinstance(variable, str) and 0 < len(variable) < 256, f"bad variable: {variable!r}"
    assert item.get("type") in FORM_TYPES, f"{variable}: type {item.get('type')!r}"
    # the SDK defaults `required` to true, the daemon to false: say it explicitly
    assert isinstance(item.get("required"), bool), f"{variable}: `required` must be an explicit boolean"
    if "default" in item:
        default = item["default"]
        assert isinstance(default, str), f"{variable}: default must be a string (quote on/off), got {default!r}"
        assert len(default) < 256
    options = item.get("options")
    if item["type"] in {"select", "radio"}:
        assert isinstance(options, list) and 0 < len(options) <= 128, f"{variable}: 1..128 options"
    if options is not None:
        assert isinstance(options, list) and len(options) <= 128
        values = []
        for option in options:
            assert isinstance(option, dict) and "label" in option and "value" in option, f"{variable}: {option!r}"
            value = option["value"]
            assert isinstance(value, str) and 0 < len(value) < 256, f"{variable}: option value {value!r}"
            values.append(value)
            _check_show_on(f"{variable}.options[{value}]", option.get("show_on", []))
        assert len(set(values)) == len(values), f"{variable}: duplicate option values {values}"
        if "default" in item:
            assert item["default"] in values, f"{variable}: default {item['default']!r} is not an option"
    _check_show_on(variable, item.get("show_on", []))


# The credential names saved with users' models: renaming one loses their settings.
LLM = frozenset({"llm"})
EMBEDDING = frozenset({"text-embedding"})
STT = frozenset({"speech2text"})
TTS = frozenset({"tts"})
BOTH = LLM | EMBEDDING | STT | TTS  # no show_on: every model type
TRI_STATE = ("auto", "on", "off")


@dataclass(frozen=True)
class Expected:
    types: tuple[str, ...]
    scope: frozenset[str] = BOTH
    required: bool = False
    options: tuple[str, ...] | None = None
    default: str | None = None


EXPECTED_FORM = {
    "base_url": Expected(("text-input",), required=True),
    "api_key": Expected(("secret-input",)),
    "endpoint_model_name": Expected(("text-input",)),
    "mode": Expected(("select",), LLM, options=("chat", "completion"), default="chat"),
    "context_size": Expected(("text-input",)),
    "max_tokens": Expected(("text-input",), LLM),
    "tool_calling": Expected(("select",), LLM, options=TRI_STATE, default="auto"),
    "vision": Expected(("select",), LLM, options=TRI_STATE, default="auto"),
    "structured_output": Expected(("select",), LLM, options=TRI_STATE, default="auto"),
    "thinking": Expected(("select",), LLM, options=TRI_STATE, default="auto"),
    "timeout": Expected(("text-input",), default="300"),
    "max_retries": Expected(("text-input",), default="2"),
    "extra_headers": Expected(("text-input", "secret-input")),
    "extra_body": Expected(("text-input",)),
    "verify_tls": Expected(("select",), options=("on", "off"), default="on"),
    "max_chunks": Expected(("text-input",), EMBEDDING),
    "dimensions": Expected(("text-input",), EMBEDDING),
    "query_prefix": Expected(("text-input",), EMBEDDING),
    "document_prefix": Expected(("text-input",), EMBEDDING),
    "stt_language": Expected(("text-input",), STT),
    "stt_prompt": Expected(("text-input",), STT),
    "tts_voices": Expected(("text-input",), TTS),
    "tts_format": Expected(("select",), TTS, options=("mp3", "wav", "opus", "flac", "aac", "pcm"), default="mp3"),
    "tts_max_chars": Expected(("text-input",), TTS),
}


def test_form_declares_exactly_the_documented_variables() -> None:
    assert set(FORM_IDS) == set(EXPECTED_FORM), (
        f"missing: {sorted(set(EXPECTED_FORM) - set(FORM_IDS))}, "
        f"unexpected: {sorted(set(FORM_IDS) - set(EXPECTED_FORM))}"
    )


def test_form_starts_with_base_url_api_key_endpoint_model_name_mode() -> None:
    assert FORM_IDS[:4] == ["base_url", "api_key", "endpoint_model_name", "mode"]


def _visible_model_types(item: dict[str, Any]) -> frozenset[str]:
    # all show_on pairs must hold at once, so several __model_type pairs intersect
    scope = BOTH
    for pair in item.get("show_on") or []:
        if pair.get("variable") == "__model_type":
            scope = scope & {pair.get("value")}
    return scope


@pytest.mark.parametrize("variable", list(EXPECTED_FORM))
def test_form_item_matches_the_documented_contract(variable: str) -> None:
    expected = EXPECTED_FORM[variable]
    matches = [item for item in FORM if item.get("variable") == variable]
    assert len(matches) == 1, f"{variable} is declared {len(matches)} times"
    item = matches[0]
    assert item.get("type") in expected.types, f"{variable}: type {item.get('type')!r}, want {expected.types}"
    assert item.get("required") is expected.required, f"{variable}: required must be {expected.required}"
    assert item.get("default") == expected.default, f"{variable}: default {item.get('default')!r}"
    values = tuple(option.get("value") for option in item.get("options") or []) or None
    assert values == expected.options, f"{variable}: options {values}, want {expected.options}"
    assert _visible_model_types(item) == expected.scope, (
        f"{variable}: shown for {sorted(_visible_model_types(item))}, want {sorted(expected.scope)}"
    )


def test_python_sources_are_the_model_type_modules() -> None:
    python = PROVIDER["extra"]["python"]
    assert python["provider_source"] == "provider/openai_compatible_bridge.py"
    # AIModel._transform_invoke_error names the provider after __module__.split(".")[-3]
    assert python["model_sources"] == [
        "models/llm/llm.py",
        "models/text_embedding/text_embedding.py",
        "models/speech2text/speech2text.py",
        "models/tts/tts.py",
    ]
    for source in python["model_sources"]:
        parts = Path(source).with_suffix("").parts
        assert len(parts) == 3 and parts[0] == "models", source


PYTHON_SOURCES = [PROVIDER["extra"]["python"]["provider_source"], *PROVIDER["extra"]["python"]["model_sources"]]


@pytest.mark.parametrize("source", PYTHON_SOURCES)
def test_python_source_file_exists(source: str) -> None:
    assert (ROOT / source).is_file(), f"{source} is declared in the provider YAML but missing"


def test_provider_validates_against_the_sdk_model_provider_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)  # the SDK resolves model globs against the working directory
    config = ModelProviderConfiguration.model_validate(load_yaml_file(PROVIDER_RELPATH))
    assert config.provider == "openai_compatible_bridge"
    assert config.model_credential_schema is not None
    assert [f.variable for f in config.model_credential_schema.credential_form_schemas] == FORM_IDS


# --- requirements.txt ------------------------------------------------------------------------

DEV_ONLY = {"pytest", "ruff", "hypothesis", "gguf", "mypy", "coverage", "respx", "pre-commit"}


def _requirements() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


REQUIREMENTS = _requirements()


def test_requirements_include_the_sdk() -> None:
    names = set()
    for line in REQUIREMENTS:
        try:
            names.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            continue  # reported by the per-line test
    assert "dify-plugin" in names


@pytest.mark.parametrize("line", REQUIREMENTS)
def test_requirement_is_a_runtime_dependency_with_a_version_range(line: str) -> None:
    try:
        requirement = Requirement(line)  # also rejects `-r requirements-dev.txt` and other options
    except InvalidRequirement as error:
        pytest.fail(f"{line!r} is not a plain requirement: {error}")
    name = canonicalize_name(requirement.name)
    assert name not in DEV_ONLY and not name.startswith("pytest-"), f"{name} is a dev-only tool"
    assert requirement.url is None, f"{line!r}: the daemon installs from the index only"
    operators = {spec.operator for spec in requirement.specifier}
    assert operators & {">=", ">", "~=", "==", "==="}, f"{line!r} has no lower bound"
    assert operators & {"<", "<=", "~=", "==", "==="}, f"{line!r} has no upper bound"


# --- .difyignore -----------------------------------------------------------------------------
# Mirrors dify-plugin-daemon FSPluginDecoder.Walk with go-git's gitignore patterns: lines are
# trimmed, blank and `#` lines skipped; a path (or any parent directory) matching a pattern is
# left out; a `!` pattern only yields "Include", which Walk ignores; nothing is ignored by default.
# Supported subset (enforced below): no `**`, no backslash escapes.

Rule = tuple[bool, bool, list[str]]  # negated, directory-only, segments


def _parse_ignore(text: str) -> list[Rule]:
    rules = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:] if negated else line
        dir_only = line.endswith("/")
        line = line[:-1] if dir_only else line
        rules.append((negated, dir_only, line.split("/")))
    return rules


def _pattern_matches(dir_only: bool, segments: list[str], parts: list[str], is_dir: bool) -> bool:
    if len(segments) == 1:  # no "/": matches the name of any component
        for index, name in enumerate(parts):
            if fnmatchcase(name, segments[0]):
                return not (dir_only and not is_dir and index == len(parts) - 1)
        return False
    segments = [s for s in segments if s]  # with a "/", the pattern is anchored at the root
    if len(parts) < len(segments) or not all(map(fnmatchcase, parts, segments)):
        return False
    return not (dir_only and not is_dir and len(parts) == len(segments))


def _excluded(rules: list[Rule], parts: list[str], is_dir: bool) -> bool:
    return any(not neg and _pattern_matches(d, segs, parts, is_dir) for neg, d, segs in rules)


def _packed(rules: list[Rule], relpath: str) -> bool:
    parts = relpath.split("/")
    if any(_excluded(rules, parts[:n], is_dir=True) for n in range(1, len(parts))):
        return False  # Walk returns SkipDir for an excluded directory
    return not _excluded(rules, parts, is_dir=False)


def _walk_packed(rules: list[Rule], directory: Path, prefix: tuple[str, ...] = ()) -> list[str]:
    packed: list[str] = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        parts = [*prefix, entry.name]
        is_dir = entry.is_dir(follow_symlinks=False)
        if _excluded(rules, parts, is_dir):
            continue
        if is_dir:
            packed += _walk_packed(rules, Path(entry.path), tuple(parts))
        else:
            packed.append("/".join(parts))
    return packed


@pytest.mark.parametrize(
    ("patterns", "path", "packed"),
    [
        ("", ".git/HEAD", True),  # no built-in ignores
        ("tests/\n!tests/keep.py", "tests/keep.py", False),  # `!` does nothing
        ("!keep.pyc\n*.pyc", "keep.pyc", False),
        ("build/", "build", True),  # a directory pattern spares a file of that name
        ("build/", "src/build/x.py", False),  # a name without "/" matches at any depth
        ("/dist/", "pkg/dist/x.py", True),  # a leading "/" anchors at the root
        ("/dist/", "dist/x.py", False),
        ("# .env", ".env", True),  # comments are skipped
        ("  .env  ", ".env", False),  # lines are trimmed
    ],
)
def test_ignore_helper_follows_the_packager_semantics(patterns: str, path: str, packed: bool) -> None:
    assert _packed(_parse_ignore(patterns), path) is packed


DIFYIGNORE_PATH = ROOT / ".difyignore"
DIFYIGNORE = _parse_ignore(DIFYIGNORE_PATH.read_text(encoding="utf-8")) if DIFYIGNORE_PATH.is_file() else []


def test_difyignore_exists_so_the_packager_does_not_fall_back_to_gitignore() -> None:
    assert DIFYIGNORE_PATH.is_file()
    assert DIFYIGNORE, ".difyignore has no patterns"


def test_difyignore_uses_only_patterns_that_work_in_the_packager() -> None:
    text = DIFYIGNORE_PATH.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert not [line for line in lines if line.startswith("!")], "`!` negation does nothing in the packager"
    assert not [line for line in lines if "**" in line or "\\" in line], "unsupported pattern syntax"


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "venv/bin/python",
        ".env",  # a packed .env would switch the installed plugin to remote debug
        ".env.example",
        "__pycache__/main.cpython-312.pyc",
        "oai_bridge/__pycache__/settings.cpython-312.pyc",
        "models/llm/stale.pyc",
        "tests/unit/test_declarations.py",
        "docs/servers.md",
        "dist/openai_compatible_bridge.difypkg",
        ".ci/run",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/0",
        "requirements-dev.txt",
        "Makefile",
        "bench/run.py",
        "scripts/release.sh",
        # a packed pyproject.toml makes the daemon run `uv sync` instead of installing requirements.txt
        "pyproject.toml",
        "uv.lock",
    ],
)
def test_difyignore_leaves_out_development_files(path: str) -> None:
    assert not _packed(DIFYIGNORE, path), f"{path} would be packed into the .difypkg"


RUNTIME_FILES = [
    "manifest.yaml",
    "main.py",
    "requirements.txt",
    "README.md",
    "PRIVACY.md",
    PROVIDER_RELPATH,
    *PYTHON_SOURCES,
    "models/llm/__init__.py",
    "oai_bridge/__init__.py",
    "oai_bridge/settings.py",
    f"_assets/{MANIFEST['icon']}",
    *([f"_assets/{MANIFEST['icon_dark']}"] if "icon_dark" in MANIFEST else []),
    *(f"_assets/{name}" for name in PROVIDER["icon_small"].values()),
    *(f"_assets/{name}" for name in PROVIDER["icon_large"].values()),
]


@pytest.mark.parametrize("path", sorted(set(RUNTIME_FILES)))
def test_difyignore_keeps_files_the_daemon_needs(path: str) -> None:
    assert _packed(DIFYIGNORE, path), f"{path} is needed at runtime but ignored"


def test_packed_working_tree_has_runtime_files_only_and_fits_50_mb() -> None:
    packed = _walk_packed(DIFYIGNORE, ROOT)
    for required in ["manifest.yaml", "main.py", "requirements.txt", PROVIDER_RELPATH, "PRIVACY.md"]:
        assert required in packed
    stray = [p for p in packed if p.split("/")[0] in {".git", ".venv", "tests", "docs", ".ci", "dist"}]
    assert not stray, f"development files would be packed: {stray[:10]}"
    size = sum((ROOT / p).stat().st_size for p in packed if not (ROOT / p).is_symlink())
    assert size < 50 * 1024 * 1024, f"uncompressed package would be {size} bytes"
