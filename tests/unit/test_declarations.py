"""The plugin's declarations against the rules Dify's daemon and SDK apply to them.

Sources of the rules: dify-plugin-daemon `pkg/entities/plugin_entities/*.go` (struct
validators) and `pkg/plugin_packager/decoder/fs.go` (`.difyignore`), dify_plugin 0.10.2
(`core/plugin_registration.py`, `interfaces/model/ai_model.py`).

Every rule reads the real files. The daemon's rules and the `.difyignore` semantics are the
packager's own (`scripts/difypkg/rules.py`, `scripts/difypkg/ignore.py`): this file runs them on
the real declarations and shows on altered copies that they catch what they must. What is
checked here only is this project's own contract (the form's variables, four languages, exact
runner). The YAML is loaded by the packager's loader: PyYAML's safe loader without timestamp
resolution (so `created_at` stays text) and with duplicate keys rejected like the daemon's yaml.v3.
"""

from __future__ import annotations

import copy
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from difypkg import ignore, rules
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


def _load(path: Path) -> dict[str, Any]:
    data = rules.load_yaml(path, path.relative_to(ROOT).as_posix())
    assert isinstance(data, dict), f"{path.name} must be a YAML mapping"
    return data


MANIFEST = _load(MANIFEST_PATH)
PROVIDER = _load(PROVIDER_PATH)
DOCUMENTS = {"manifest": MANIFEST, "provider": PROVIDER}
FORM: list[dict[str, Any]] = PROVIDER["model_credential_schema"]["credential_form_schemas"]
FORM_IDS = [str(item.get("variable", f"item{i}")) for i, item in enumerate(FORM)]


# --- I18n objects ----------------------------------------------------------------------------

LANGUAGES = rules.I18N_LANGS
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
        "provider:model_credential_schema.model.label",
        "provider:model_credential_schema.model.placeholder",
    }
    expected |= {f"provider:model_credential_schema.credential_form_schemas[{i}].label" for i in range(len(FORM))}
    assert expected <= found, f"not recognised as I18n: {sorted(expected - found)}"


@pytest.mark.parametrize(("path", "obj"), I18N_OBJECTS, ids=[p for p, _ in I18N_OBJECTS])
def test_i18n_object_follows_the_daemon_rule(path: str, obj: object) -> None:
    # en_US required, only Dify's four languages, non-empty texts shorter than 1024 characters
    assert rules.i18n_errors(obj, path) == []


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


# --- the daemon's rules (the packager's), on the real declarations and on broken copies -----


def test_manifest_follows_the_daemon_rules() -> None:
    assert rules.manifest_errors(MANIFEST) == []


def test_provider_follows_the_daemon_rules() -> None:
    assert rules.provider_errors(PROVIDER, PROVIDER_RELPATH) == []


@pytest.mark.parametrize("item", FORM, ids=FORM_IDS)
def test_form_item_follows_the_daemon_rules(item: dict[str, Any]) -> None:
    types = set(PROVIDER["supported_model_types"])
    assert rules.form_item_errors(item, str(item.get("variable")), set(FORM_IDS), types) == []


def test_the_checkout_passes_the_packagers_validation() -> None:
    # every rule plus the files they name (icons, privacy, sources, entrypoint), as packed
    assert rules.validate(ROOT, ignore.collect_files(ROOT))["name"] == MANIFEST["name"]


Edit = Callable[[dict[str, Any]], None]


def _put(path: str, value: Any) -> Edit:
    """An edit setting a dotted path (``a.b.0.c``; list indexes as numbers)."""

    def edit(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _form_item(variable: str, key: str, value: Any) -> Edit:
    index = FORM_IDS.index(variable)
    return _put(f"model_credential_schema.credential_form_schemas.{index}.{key}", value)


def _form(change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> Edit:
    def edit(doc: dict[str, Any]) -> None:
        schema = doc["model_credential_schema"]
        schema["credential_form_schemas"] = change(schema["credential_form_schemas"])

    return edit


def _pairs(n: int) -> list[dict[str, str]]:
    return [{"variable": "base_url", "value": f"v{i}"} for i in range(n)]


MANIFEST_BREAKS = {
    "version": (_put("version", 0.1), "version '0.1' does not match"),
    "meta.version": (_put("meta.version", "v0.1.0"), "meta.version 'v0.1.0' does not match"),
    "type": (_put("type", "tool"), "type must be 'plugin'"),
    "author": (_put("author", "Oai Bridge"), "author 'Oai Bridge' does not match"),
    "name": (_put("name", "x" * 129), "name 'xxx"),
    "label language": (_put("label", {"de_DE": "Brücke"}), "label.en_US is required"),
    "long description": (_put("description.en_US", "x" * 1024), "description.en_US: must be non-empty"),
    "icon": (_put("icon", "x" * 129), "icon is required (at most 128"),
    "memory": (_put("resource.memory", 0), "resource.memory must be a positive"),
    "permission type": (_put("resource.permission.model.llm", "yes"), "['llm'] must be true or false"),
    "permission name": (_put("resource.permission.model.text-embedding", True), "unknown keys ['text-embedding']"),
    "two providers": (_put("plugins.models", [PROVIDER_RELPATH] * 2), "exactly one provider YAML"),
    "tools": (_put("plugins.tools", ["provider/x.yaml"]), "nothing but plugins.models (found tools)"),
    "arch": (_put("meta.arch", ["amd64", "riscv64"]), "meta.arch must be a non-empty subset"),
    "runner": (_put("meta.runner.language", "go"), "meta.runner.language must be 'python'"),
    "created_at": (_put("created_at", "2026-13-01T00:00:00Z"), "created_at '2026-13-01T00:00:00Z' is not"),
}

PROVIDER_BREAKS = {
    "name": (_put("provider", ""), "provider must be a name"),
    "fetch-from-remote": (_put("configurate_methods", ["fetch-from-remote"]), "configurate_methods must be"),
    "model type": (_put("supported_model_types", ["chat"]), "supported_model_types must be"),
    "help url": (_put("help", {"title": {"en_US": "Docs"}, "url": {"en": "https://x"}}), "help.url.en_US is required"),
    "model label": (_put("model_credential_schema.model.label", None), "model.label: must be a mapping"),
    "33 items": (_form(lambda f: f + [dict(f[-1], variable=f"v{i}") for i in range(33 - len(f))]), "at most 32"),
    # the form holds the daemon's 32 items: the duplicate replaces the last, or the size rule fires first
    "duplicate": (_form(lambda f: [*f[:-1], f[0]]), "['base_url'] more than once"),
    "item type": (_form_item("base_url", "type", "number"), "type 'number' is not one of"),
    "unquoted on": (_form_item("verify_tls", "default", True), "default must be text"),
    "required": (_form_item("base_url", "required", "yes"), "required must be true or false"),
    "no options": (_form_item("mode", "options", []), "a select needs options"),
    "129 options": (_form_item("mode", "options", [{"label": {"en_US": "x"}, "value": "x"}] * 129), "at most 128"),
    "option label": (_form_item("mode", "options", [{"label": {"de_DE": "x"}, "value": "x"}]), "options[0].label"),
    "17 show_on": (_form_item("api_key", "show_on", _pairs(17)), "show_on must be a list of at most 16"),
    "model type shown": (
        _form_item("api_key", "show_on", [{"variable": "__model_type", "value": "moderation"}]),
        "__model_type 'moderation' is not a supported model type",
    ),
    "unknown variable": (
        _form_item("api_key", "show_on", [{"variable": "nope", "value": "x"}]),
        "show_on refers to unknown variable 'nope'",
    ),
}


@pytest.mark.parametrize(("edit", "message"), MANIFEST_BREAKS.values(), ids=MANIFEST_BREAKS.keys())
def test_manifest_rules_catch(edit: Edit, message: str) -> None:
    broken = copy.deepcopy(MANIFEST)
    edit(broken)
    errors = rules.manifest_errors(broken)
    assert [e for e in errors if message in e], errors


@pytest.mark.parametrize(("edit", "message"), PROVIDER_BREAKS.values(), ids=PROVIDER_BREAKS.keys())
def test_provider_rules_catch(edit: Edit, message: str) -> None:
    broken = copy.deepcopy(PROVIDER)
    edit(broken)
    errors = rules.provider_errors(broken, PROVIDER_RELPATH)
    assert [e for e in errors if message in e], errors


# --- manifest.yaml: this project's own choices ------------------------------------------------

# Top-level keys of the daemon's PluginDeclaration (plugin_declaration.go); others are ignored
# silently, so a misspelt `privacy`/`icon_dark` would go unnoticed.
MANIFEST_KEYS = {"version", "type", "author", "name", "label", "description", "icon", "icon_dark"}
MANIFEST_KEYS |= {"resource", "plugins", "meta", "tags", "created_at", "privacy", "repo", "verified"}


def test_manifest_has_only_keys_the_daemon_knows() -> None:
    assert set(MANIFEST) <= MANIFEST_KEYS, f"unknown keys: {sorted(set(MANIFEST) - MANIFEST_KEYS)}"


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


def test_manifest_declares_exactly_one_model_provider_and_nothing_else() -> None:
    plugins = MANIFEST["plugins"]
    assert plugins.get("models") == [PROVIDER_RELPATH]
    others = {key: value for key, value in plugins.items() if key != "models" and value}
    assert not others, f"a model plugin may declare nothing else: {others}"
    assert all(len(path) <= 128 for path in plugins["models"])
    assert (ROOT / plugins["models"][0]).is_file()


def test_manifest_runner_is_python_312_with_main_entrypoint() -> None:
    assert MANIFEST["meta"]["runner"] == {"language": "python", "version": "3.12", "entrypoint": "main"}


def test_manifest_entrypoint_module_exists() -> None:
    # the daemon runs `python -m <entrypoint>` in the plugin directory
    assert (ROOT / f"{MANIFEST['meta']['runner']['entrypoint']}.py").is_file()


def test_manifest_privacy_file_exists() -> None:
    privacy = MANIFEST.get("privacy")
    assert isinstance(privacy, str) and privacy, "privacy (PRIVACY.md) is required for Marketplace"
    assert (ROOT / privacy).is_file() and (ROOT / privacy).read_text(encoding="utf-8").strip()


def test_manifest_validates_against_the_sdk_plugin_configuration() -> None:
    config = PluginConfiguration.model_validate(load_yaml_file(str(MANIFEST_PATH)))
    assert config.name == MANIFEST["name"]
    assert config.plugins.models == [PROVIDER_RELPATH]


# --- provider YAML ---------------------------------------------------------------------------


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


def test_provider_supports_every_model_type() -> None:
    assert PROVIDER["supported_model_types"] == ["llm", "text-embedding", "rerank", "speech2text", "tts"]


def test_provider_is_configured_per_model() -> None:
    # `fetch-from-remote` is not accepted by the daemon, whatever the docs say
    assert PROVIDER["configurate_methods"] == ["customizable-model"]


@pytest.mark.parametrize("item", FORM, ids=FORM_IDS)
def test_form_item_says_whether_it_is_required_and_offers_its_default(item: dict[str, Any]) -> None:
    variable = item.get("variable")
    # the SDK defaults `required` to true, the daemon to false: say it explicitly
    assert isinstance(item.get("required"), bool), f"{variable}: `required` must be an explicit boolean"
    values = [option.get("value") for option in item.get("options") or []]
    assert len(set(values)) == len(values), f"{variable}: duplicate option values {values}"
    if values and "default" in item:
        assert item["default"] in values, f"{variable}: default {item['default']!r} is not an option"


# The credential names saved with users' models: renaming one loses their settings.
LLM = frozenset({"llm"})
EMBEDDING = frozenset({"text-embedding"})
RERANK = frozenset({"rerank"})
STT = frozenset({"speech2text"})
TTS = frozenset({"tts"})
BOTH = LLM | EMBEDDING | RERANK | STT | TTS  # every model type: items without a __model_type show_on
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
    "api_type": Expected(("select",), LLM, options=("auto", "chat_completions", "responses"), default="auto"),
    "context_size": Expected(("text-input",)),
    "max_tokens": Expected(("text-input",), LLM),
    "tool_calling": Expected(("select",), LLM, options=TRI_STATE, default="auto"),
    "vision": Expected(("select",), LLM, options=TRI_STATE, default="auto"),
    "audio": Expected(("select",), LLM, options=TRI_STATE, default="auto"),
    "video": Expected(("select",), LLM, options=TRI_STATE, default="auto"),
    "document": Expected(("select",), LLM, options=TRI_STATE, default="auto"),
    "structured_output": Expected(("select",), LLM, options=TRI_STATE, default="auto"),
    "thinking": Expected(("select",), LLM, options=TRI_STATE, default="auto"),
    "timeout": Expected(("text-input",), default="300"),
    "max_retries": Expected(("text-input",), default="2"),
    "extra_headers": Expected(("text-input", "secret-input")),
    "extra_body": Expected(("text-input",)),
    "verify_tls": Expected(("select",), options=("on", "off"), default="on"),
    "ca_certificate": Expected(("text-input",)),
    "max_chunks": Expected(("text-input",), EMBEDDING),
    "dimensions": Expected(("text-input",), EMBEDDING),
    "query_prefix": Expected(("text-input",), EMBEDDING),
    "document_prefix": Expected(("text-input",), EMBEDDING),
    "score_scale": Expected(("select",), RERANK, options=("auto", "served", "sigmoid"), default="auto"),
    "rerank_images": Expected(("select",), RERANK, options=TRI_STATE, default="auto"),
    "multimodal_input": Expected(("select",), EMBEDDING, options=("auto", "off", "messages", "jina"), default="auto"),
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
        "models/rerank/rerank.py",
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


# --- .difyignore (read by the packager's own ignore module) ----------------------------------

DIFYIGNORE_PATH = ROOT / ".difyignore"
DIFYIGNORE = ignore.IgnoreRules.load(ROOT)


def test_difyignore_exists_so_the_packager_does_not_fall_back_to_gitignore() -> None:
    assert DIFYIGNORE_PATH.is_file() and DIFYIGNORE.source == ".difyignore"
    assert DIFYIGNORE.patterns, ".difyignore has no patterns"


def test_difyignore_has_no_negations_because_the_packager_ignores_them() -> None:
    assert not [p.line for p in DIFYIGNORE.patterns if p.negated], "`!` negation does nothing in the packager"


@pytest.mark.parametrize(
    "path",
    [
        ".git",  # a file in a git worktree or submodule
        ".git/HEAD",
        ".venv/bin/python",
        "venv/bin/python",
        ".env",  # a packed .env would switch the installed plugin to remote debug
        ".env.example",
        "__pycache__/main.cpython-312.pyc",
        "oai_bridge/__pycache__/settings.cpython-312.pyc",
        "models/llm/stale.pyc",
        "tests/unit/test_declarations.py",
        "dist/openai_compatible_bridge.difypkg",
        "keys/signing.private.pem",  # a packed private key would be published with the plugin
        "keys/signing.public.pem",
        ".ci/run",
        ".pytest_cache/v/cache/nodeids",
        ".ruff_cache/CACHEDIR.TAG",
        ".hypothesis/examples/0",
        "requirements-dev.txt",
        "Makefile",
        "bench/run.py",
        "scripts/release.sh",
        "scripts/difypkg/rules.py",
        # a packed pyproject.toml makes the daemon run `uv sync` instead of installing requirements.txt
        "pyproject.toml",
        "uv.lock",
    ],
)
def test_difyignore_leaves_out_development_files(path: str) -> None:
    assert not DIFYIGNORE.is_packed(path), f"{path} would be packed into the .difypkg"


RUNTIME_FILES = [
    "manifest.yaml",
    "main.py",
    "requirements.txt",
    "README.md",
    "PRIVACY.md",
    "docs/quickstart.md",  # Dify shows the README, which links into docs/
    "docs/servers/ollama.md",
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
    assert DIFYIGNORE.is_packed(path), f"{path} is needed in the package but ignored"


def test_packed_working_tree_has_runtime_files_only_and_fits_50_mb() -> None:
    packed = ignore.collect_files(ROOT, DIFYIGNORE)
    for required in ["manifest.yaml", "main.py", "requirements.txt", PROVIDER_RELPATH, "PRIVACY.md"]:
        assert required in packed
    stray = [p for p in packed if p.split("/")[0] in {".git", ".venv", "tests", "scripts", "keys", ".ci", "dist"}]
    assert not stray, f"development files would be packed: {stray[:10]}"
    size = sum((ROOT / p).stat().st_size for p in packed)
    assert size < 50 * 1024 * 1024, f"uncompressed package would be {size} bytes"
