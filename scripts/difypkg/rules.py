"""What Dify requires of ``manifest.yaml`` and the provider YAML before it installs a plugin.

The struct rules of dify-plugin-daemon (``pkg/entities/plugin_entities/*.go``) and the checks of
``dify plugin package`` (``_assets/`` exists, the icons exist in it), plus what the packager adds so
it does not build a package Dify would install but not run: every file the declarations name is
present and packed. ``manifest_errors``/``provider_errors`` look at the parsed documents only;
``validate`` also looks at the files.

Each ``*_errors`` function returns a list of messages (empty when the document is fine), so a
caller can report every problem at once.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from difypkg.errors import PackageError

VERSION_RE = re.compile(r"^\d{1,4}(\.\d{1,4}){2}(-\w{1,16})?$")
AUTHOR_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
NAME_RE = re.compile(r"^[a-z0-9_-]{1,128}$")
RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
I18N_LANGS = ("en_US", "zh_Hans", "ja_JP", "pt_BR")
ARCHES = frozenset({"amd64", "arm64"})
OTHER_PLUGIN_KINDS = ("tools", "endpoints", "agent_strategies", "datasources", "triggers")
MODEL_PERMISSIONS = frozenset({"enabled", "llm", "text_embedding", "rerank", "tts", "speech2text", "moderation"})
MODEL_TYPES = frozenset({"llm", "text-embedding", "rerank", "speech2text", "moderation", "tts", "text2img"})
CONFIGURATE_METHODS = frozenset({"predefined-model", "customizable-model"})  # not fetch-from-remote
FORM_TYPES = frozenset({"text-input", "secret-input", "select", "radio", "switch"})
MAX_FORM_ITEMS = 32
MAX_OPTIONS = 128
MAX_SHOW_ON = 16


# --- loading -----------------------------------------------------------------------------------
class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, keeping timestamps as text (``created_at`` is checked as RFC 3339
    text) and refusing duplicate keys like the daemon's Go yaml.v3 (PyYAML keeps the last one)."""

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


def load_yaml(path: Path, source: str | None = None) -> Any:
    """Parse a declaration file; ``PackageError`` names the file and line on bad YAML."""
    source = source or Path(path).name
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackageError(f"{source}: cannot read: {exc}") from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        raise PackageError(f"{source}: invalid YAML: {exc}") from exc


# --- shared pieces -----------------------------------------------------------------------------
def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def i18n_errors(value: Any, where: str, *, required: bool = True) -> list[str]:
    """An I18n object: ``en_US`` required, only Dify's four languages, non-empty text < 1024."""
    if value is None and not required:
        return []
    if not isinstance(value, Mapping):
        return [f"{where}: must be a mapping of languages ({', '.join(I18N_LANGS)})"]
    errors = []
    if "en_US" not in value:
        errors.append(f"{where}.en_US is required")
    for lang, text in value.items():
        if lang not in I18N_LANGS:
            errors.append(f"{where}: language {lang!r} is not one of {', '.join(I18N_LANGS)}")
        elif not isinstance(text, str) or not text.strip() or len(text) >= 1024:
            errors.append(f"{where}.{lang}: must be non-empty text shorter than 1024 characters")
    return errors


def is_rfc3339(value: Any) -> bool:
    if not isinstance(value, str) or not RFC3339_RE.match(value):
        return False
    try:  # the regex lets impossible dates such as month 13 through
        datetime.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _version_error(value: Any, where: str) -> list[str]:
    if isinstance(value, str) and VERSION_RE.match(value):
        return []
    # Go reads an unquoted `0.1` into the string field as "0.1"; PyYAML makes it a float
    shown = str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
    return [f"manifest.yaml: {where} {shown!r} does not match {VERSION_RE.pattern}"]


# --- manifest.yaml -----------------------------------------------------------------------------
def manifest_errors(manifest: Any) -> list[str]:
    """The daemon's struct rules for ``manifest.yaml`` (a model plugin's)."""
    if not isinstance(manifest, Mapping):
        return ["manifest.yaml: not a mapping"]
    errors = _version_error(manifest.get("version"), "version")
    if manifest.get("type") != "plugin":
        errors.append(f"manifest.yaml: type must be 'plugin', not {manifest.get('type')!r}")
    for key, regex in (("author", AUTHOR_RE), ("name", NAME_RE)):
        if not isinstance(manifest.get(key), str) or not regex.match(manifest[key]):
            errors.append(f"manifest.yaml: {key} {manifest.get(key)!r} does not match {regex.pattern}")
    errors += i18n_errors(manifest.get("label"), "manifest.yaml: label")
    errors += i18n_errors(manifest.get("description"), "manifest.yaml: description")
    icon = manifest.get("icon")
    if not isinstance(icon, str) or not icon or len(icon) > 128:
        errors.append(f"manifest.yaml: icon is required (at most 128 characters), not {icon!r}")
    icon_dark = manifest.get("icon_dark")
    if icon_dark is not None and (not isinstance(icon_dark, str) or len(icon_dark) > 128):
        errors.append(f"manifest.yaml: icon_dark must be a file name of at most 128 characters, not {icon_dark!r}")
    if not is_rfc3339(manifest.get("created_at")):
        errors.append(f"manifest.yaml: created_at {manifest.get('created_at')!r} is not an RFC 3339 time")

    resource = _mapping(manifest.get("resource"))
    memory = resource.get("memory")
    if not isinstance(memory, int) or isinstance(memory, bool) or memory <= 0:
        errors.append(f"manifest.yaml: resource.memory must be a positive number of bytes, not {memory!r}")
    model_permission = _mapping(resource.get("permission")).get("model")
    if model_permission is not None:
        if not isinstance(model_permission, Mapping):
            errors.append("manifest.yaml: resource.permission.model must be a mapping")
        else:
            # Go ignores an unknown key: a misspelt permission would silently not be granted
            unknown = sorted(set(model_permission) - MODEL_PERMISSIONS)
            if unknown:
                errors.append(f"manifest.yaml: resource.permission.model has unknown keys {unknown}")
            not_bool = sorted(k for k, v in model_permission.items() if not isinstance(v, bool))
            if not_bool:
                errors.append(f"manifest.yaml: resource.permission.model {not_bool} must be true or false")

    meta = _mapping(manifest.get("meta"))
    errors += _version_error(meta.get("version"), "meta.version")
    arch = meta.get("arch")
    if not isinstance(arch, list) or not arch or not set(arch) <= ARCHES:
        errors.append(f"manifest.yaml: meta.arch must be a non-empty subset of {sorted(ARCHES)}, not {arch!r}")
    runner = _mapping(meta.get("runner"))
    if runner.get("language") != "python":
        errors.append(f"manifest.yaml: meta.runner.language must be 'python', not {runner.get('language')!r}")
    if not runner.get("version"):
        errors.append("manifest.yaml: meta.runner.version is required")
    if not isinstance(runner.get("entrypoint"), str) or not runner["entrypoint"]:
        errors.append("manifest.yaml: meta.runner.entrypoint is required")

    plugins = _mapping(manifest.get("plugins"))
    models = plugins.get("models") or []
    if not isinstance(models, list) or len(models) != 1 or not all(isinstance(m, str) and m for m in models):
        errors.append(f"manifest.yaml: plugins.models must list exactly one provider YAML, not {models!r}")
    elif len(models[0]) > 128:
        errors.append(f"manifest.yaml: plugins.models path {models[0]!r} is longer than 128 characters")
    for kind in OTHER_PLUGIN_KINDS:
        if plugins.get(kind):
            errors.append(f"manifest.yaml: a model plugin may declare nothing but plugins.models (found {kind})")
    return errors


# --- provider YAML -----------------------------------------------------------------------------
def _show_on_errors(show_on: Any, where: str, variables: set[str], model_types: set[str]) -> list[str]:
    if show_on is None:
        return []
    if not isinstance(show_on, list) or len(show_on) > MAX_SHOW_ON:
        return [f"{where}.show_on must be a list of at most {MAX_SHOW_ON} {{variable, value}} pairs"]
    errors = []
    for pair in show_on:
        if not isinstance(pair, Mapping) or set(pair) != {"variable", "value"}:
            errors.append(f"{where}.show_on: {pair!r} is not a {{variable, value}} pair")
            continue
        variable, value = pair["variable"], pair["value"]
        if not isinstance(variable, str) or not isinstance(value, str) or not value:
            errors.append(f"{where}.show_on: {pair!r} needs text for variable and value")
        elif len(variable) >= 256 or len(value) >= 256:
            errors.append(f"{where}.show_on: {pair!r} is longer than 255 characters")
        elif variable == "__model_type":  # selects the model type in Dify's form
            if value not in model_types:
                errors.append(f"{where}: __model_type {value!r} is not a supported model type {sorted(model_types)}")
        elif variable not in variables:  # the item would never be shown
            errors.append(f"{where}: show_on refers to unknown variable {variable!r}")
    return errors


def form_item_errors(item: Any, where: str, variables: set[str], model_types: set[str]) -> list[str]:
    """One item of ``model_credential_schema.credential_form_schemas``."""
    if not isinstance(item, Mapping):
        return [f"{where}: must be a mapping"]
    errors = []
    variable = item.get("variable")
    if not isinstance(variable, str) or not 0 < len(variable) < 256:
        errors.append(f"{where}: variable is required (text shorter than 256 characters), not {variable!r}")
    else:
        where = f"{where} ({variable})"
    errors += i18n_errors(item.get("label"), f"{where}.label")
    for key in ("placeholder", "help"):
        errors += i18n_errors(item.get(key), f"{where}.{key}", required=False)
    if item.get("type") not in FORM_TYPES:
        errors.append(f"{where}: type {item.get('type')!r} is not one of {sorted(FORM_TYPES)}")
    if "required" in item and not isinstance(item["required"], bool):
        errors.append(f"{where}: required must be true or false, not {item['required']!r}")
    default = item.get("default")
    if default is not None and (not isinstance(default, str) or len(default) >= 256):
        errors.append(f"{where}: default must be text shorter than 256 characters (quote on/off), not {default!r}")
    options = item.get("options")
    if item.get("type") in ("select", "radio") and not options:
        errors.append(f"{where}: a {item['type']} needs options")
    if options is not None:
        if not isinstance(options, list) or len(options) > MAX_OPTIONS:
            errors.append(f"{where}: options must be a list of at most {MAX_OPTIONS}")
            options = []
        for index, option in enumerate(options):
            at = f"{where}.options[{index}]"
            if not isinstance(option, Mapping):
                errors.append(f"{at}: must be a mapping with label and value")
                continue
            value = option.get("value")
            if not isinstance(value, str) or not 0 < len(value) < 256:
                errors.append(f"{at}: value must be text shorter than 256 characters, not {value!r}")
            errors += i18n_errors(option.get("label"), f"{at}.label")
            errors += _show_on_errors(option.get("show_on"), at, variables, model_types)
    errors += _show_on_errors(item.get("show_on"), where, variables, model_types)
    return errors


def provider_errors(provider: Any, source: str = "provider YAML") -> list[str]:
    """The daemon's struct rules for a model provider YAML."""
    if not isinstance(provider, Mapping):
        return [f"{source}: not a mapping"]
    errors = []
    name = provider.get("provider")
    if not isinstance(name, str) or not 0 < len(name) < 256:
        errors.append(f"{source}: provider must be a name shorter than 256 characters")
    errors += i18n_errors(provider.get("label"), f"{source}: label")
    errors += i18n_errors(provider.get("description"), f"{source}: description", required=False)
    for key in ("icon_small", "icon_large", "icon_small_dark", "icon_large_dark"):
        errors += i18n_errors(provider.get(key), f"{source}: {key}", required=False)
    help_ = provider.get("help")
    if help_ is not None:
        if not isinstance(help_, Mapping):
            errors.append(f"{source}: help must be a mapping with title and url")
        else:
            errors += i18n_errors(help_.get("title"), f"{source}: help.title")
            errors += i18n_errors(help_.get("url"), f"{source}: help.url")

    types = provider.get("supported_model_types")
    if not isinstance(types, list) or not types or not set(types) <= MODEL_TYPES:
        errors.append(f"{source}: supported_model_types must be a non-empty subset of {sorted(MODEL_TYPES)}")
        types = []
    methods = provider.get("configurate_methods")
    if not isinstance(methods, list) or not methods or not set(methods) <= CONFIGURATE_METHODS:
        errors.append(f"{source}: configurate_methods must be a non-empty subset of {sorted(CONFIGURATE_METHODS)}")

    schema = provider.get("model_credential_schema")
    if schema is not None:
        if not isinstance(schema, Mapping):
            return [*errors, f"{source}: model_credential_schema must be a mapping"]
        model = _mapping(schema.get("model"))
        errors += i18n_errors(model.get("label"), f"{source}: model_credential_schema.model.label")
        errors += i18n_errors(
            model.get("placeholder"), f"{source}: model_credential_schema.model.placeholder", required=False
        )
        form = schema.get("credential_form_schemas") or []
        if not isinstance(form, list) or len(form) > MAX_FORM_ITEMS:
            errors.append(f"{source}: credential_form_schemas must be a list of at most {MAX_FORM_ITEMS} items")
            form = []
        names = [item.get("variable") for item in form if isinstance(item, Mapping)]
        duplicates = sorted({str(n) for n in names if names.count(n) > 1})
        if duplicates:
            errors.append(f"{source}: credential_form_schemas declares {duplicates} more than once")
        variables = {n for n in names if isinstance(n, str)}
        for index, item in enumerate(form):
            errors += form_item_errors(item, f"{source}: credential_form_schemas[{index}]", variables, set(types))
    return errors


# --- the files behind the declarations ----------------------------------------------------------
def validate(root: Path, packed: Iterable[str]) -> dict[str, Any]:
    """Every rule above plus the files they name, as the packed set ``packed`` holds them; raises
    ``PackageError`` listing every problem. Returns the manifest."""
    root = Path(root)
    packed_set = set(packed)
    if not (root / "manifest.yaml").is_file():
        raise PackageError(f"{root}: manifest.yaml is missing")
    manifest = load_yaml(root / "manifest.yaml", "manifest.yaml")
    if not isinstance(manifest, dict):
        raise PackageError("manifest.yaml: not a mapping")
    errors = manifest_errors(manifest)

    def need_packed(relpath: str, why: str) -> None:
        if (root / relpath).is_file() and relpath not in packed_set:
            errors.append(f"{relpath} ({why}) is left out by the ignore file: the installed plugin would lack it")

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
    if isinstance(icon, str) and icon and len(icon) <= 128:
        need_asset(icon, "plugin icon")
    if manifest.get("icon_dark"):
        need_asset(manifest["icon_dark"], "plugin dark icon")

    privacy = manifest.get("privacy")
    if privacy:
        if not isinstance(privacy, str) or not (root / privacy).is_file():
            errors.append(f"manifest.yaml: privacy {privacy!r} does not exist")
        else:
            need_packed(privacy, "manifest privacy")

    models = _mapping(manifest.get("plugins")).get("models") or []
    for provider_path in models if isinstance(models, list) else []:
        if not isinstance(provider_path, str) or not (root / provider_path).is_file():
            errors.append(f"manifest.yaml: provider YAML {provider_path!r} does not exist")
            continue
        need_packed(provider_path, "provider YAML")
        provider = load_yaml(root / provider_path, provider_path)
        errors += provider_errors(provider, provider_path)
        if not isinstance(provider, Mapping):
            continue
        for key in ("icon_small", "icon_large"):
            for lang in I18N_LANGS:
                value = _mapping(provider.get(key)).get(lang)
                if value:
                    need_asset(value, f"model {key.replace('_', ' ')} {lang}")
        python = _mapping(_mapping(provider.get("extra")).get("python"))
        if python:
            for source in [python.get("provider_source"), *(python.get("model_sources") or [])]:
                if not isinstance(source, str) or not (root / source).is_file():
                    errors.append(f"{provider_path}: extra.python source {source!r} does not exist")
                else:
                    need_packed(source, "extra.python source")

    # what the daemon needs to install and start the plugin
    if not (root / "requirements.txt").is_file() and not (root / "pyproject.toml").is_file():
        errors.append("neither requirements.txt nor pyproject.toml exists: the daemon cannot install the plugin")
    need_packed("requirements.txt", "installed by the daemon")
    entrypoint = _mapping(_mapping(manifest.get("meta")).get("runner")).get("entrypoint")
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
