"""Endpoint doctor: `python -m oai_bridge.doctor --base-url URL --model NAME [--type TYPE] [form fields]`
(or `make doctor BASE_URL=… MODEL=… TYPE=…`). Runs exactly the checks that saving a model in Dify
runs (`adapter.base.check_credentials`: the form parsed, `discovery.detect`, the same requests,
bounds and error wording) and prints what the endpoint supports and what to enter in Dify's form.

Every form field saving reads can be given: `--field name=value` for any of them, and flags for
the common ones (`--timeout`, `--verify-tls`, `--extra-headers`, `--extra-body`, `--tts-format`,
…). The API key is best taken from the environment (`OAI_BRIDGE_API_KEY`): `ps` shows arguments.

A command-line tool for people; it never runs inside the plugin process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml
from dify_plugin.errors.model import InvokeError

from oai_bridge.adapter.base import check_credentials
from oai_bridge.config.settings import Settings, SettingsError
from oai_bridge.config.urls import base_query, display_url, with_query
from oai_bridge.discovery.detect import Detection, ModelKind, kind_of

__all__ = ["API_KEY_ENV", "TYPES", "diagnose", "form_variables", "main"]

API_KEY_ENV = "OAI_BRIDGE_API_KEY"
PROVIDER_YAML = Path(__file__).resolve().parents[1] / "provider" / "openai_compatible_bridge.yaml"

# --type -> (Dify's model type as its form names it, the type `kind_of` takes, form values that select it)
TYPES: Mapping[str, tuple[str, str, Mapping[str, str]]] = {
    "llm": ("LLM", "llm", {}),
    "completion": ("LLM", "llm", {"mode": "completion"}),
    "embedding": ("Text Embedding", "text-embedding", {}),
    "text-embedding": ("Text Embedding", "text-embedding", {}),  # Dify's own name for the type
    "rerank": ("Rerank", "rerank", {}),
    "speech2text": ("Speech2text", "speech2text", {}),
    "tts": ("TTS", "tts", {}),
}
# (flag, form variable, help) for the fields people set most; `--field` reaches every other one.
NAMED_FIELDS = (
    ("--timeout", "timeout", "seconds without progress, as in the form"),
    ("--verify-tls", "verify_tls", "on or off"),
    ("--extra-headers", "extra_headers", 'JSON object, e.g. \'{"X-Tenant": "a"}\' (values never printed)'),
    ("--extra-body", "extra_body", "JSON object merged into every request body"),
    ("--endpoint-model-name", "endpoint_model_name", "the id sent to the server, if not the model name"),
    ("--context-size", "context_size", "tokens; empty = detected"),
    ("--tts-format", "tts_format", "audio format for TTS: mp3, wav, opus, flac, aac or pcm"),
    ("--voices", "tts_voices", "TTS voices, comma-separated"),
    ("--stt-language", "stt_language", "two-letter language of the speech for speech-to-text"),
)
_SECRET_FIELDS = ("api_key", "extra_headers")
_LABELS = {
    "tool_calling": "Tool calling",
    "structured_output": "Structured output",
    "vision": "Vision",
    "audio": "Audio input",
}
_LOOPBACK = ("localhost", "127.0.0.1", "0.0.0.0", "::1")


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def docker_url(url: str) -> str | None:
    """The same URL as Dify's plugin container reaches the host (`host.docker.internal`), when
    `url` points at this machine's loopback; None otherwise."""
    parts = urlsplit(url)
    if parts.hostname not in _LOOPBACK:
        return None
    netloc = "host.docker.internal" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _report(
    base_url: str,
    model: str,
    model_type: str,
    kind: ModelKind,
    found: Detection,
    elapsed: float,
    form: Mapping[str, str],
) -> list[str]:
    dify_type = TYPES[model_type][0]
    # What to type into Dify: the API root found, with the query string given (credential-like
    # values masked: the user has them).
    corrected = with_query(found.base_url, base_query(base_url))
    entered = display_url(corrected)
    lines = [f"Endpoint: {found.base_url}   model: {model}   type: {model_type}", ""]
    if found.models is None:
        lines.append("  Models listed       (the server lists none at /models)")
    else:
        shown = ", ".join(found.models[:10]) + (" …" if len(found.models) > 10 else "")
        lines.append(f"  Models listed       {len(found.models)}: {shown}")
    lines.append(f"  Plain request       ok ({elapsed:.2f} s for every check)")
    if kind in ("chat", "completion", "embedding"):
        lines.append(f"  Context size        {found.context_size or 'not reported (4096 is assumed)'}")
    if found.dimensions:
        lines.append(f"  Vector size         {found.dimensions}")
    for name, value in sorted(found.features.items()):
        lines.append(f"  {_LABELS.get(name, name):<19} {_yes_no(value)}")
    for name, value in sorted(found.values.items()):
        lines.append(f"  {name:<19} {value}")
    if kind == "chat":
        lines.append(f"  Usage in streams    {_yes_no(found.streamed_usage)}")
        lines.append(f"  Reasoning           {'seen' if found.reasoning_seen else 'not seen in a short answer'}")
    lines += [f"  Note: {note}" for note in found.notes]
    lines += [
        "",
        f"Enter in Dify (Settings > Model Provider > OpenAI-Compatible Bridge > Add model > {dify_type}):",
        f"  Model name          {model}",
        f"  Base URL            {entered}",
    ]
    if inside := docker_url(entered):
        lines.append(f"                      from Dify running in Docker: {inside}")
    lines.append("  API key             (your key, or empty if the server needs none)")
    for name, value in form.items():
        if name not in ("base_url", "api_key") and value != "":
            lines.append(f"  {name:<19} {'(as given)' if name in _SECRET_FIELDS else value}")
    if found.values.get("api_type") == "responses":
        lines.append("  API type            Responses (Auto finds it too: only /responses answers)")
    if base_url.strip().rstrip("/") != corrected:
        lines.append(f"  (the base URL you gave, {display_url(base_url)}, was corrected)")
    return lines


def diagnose(
    base_url: str,
    model: str,
    api_key: str | None = None,
    *,
    model_type: str = "llm",
    fields: Mapping[str, str] | None = None,
) -> tuple[bool, str]:
    """(ok, report text) for the endpoint, with the form values ``fields``; on failure the text
    is the message saving the model in Dify would show."""
    _, dify_type, selects = TYPES[model_type]
    form = {**(fields or {}), **selects}
    credentials = {**form, "base_url": base_url, "api_key": api_key or ""}
    kinds: list[ModelKind] = []

    def kind_for(settings: Settings) -> ModelKind:  # as the model class of that type does
        kinds.append(kind_of(settings, dify_type))  # type: ignore[arg-type]
        return kinds[-1]

    try:
        started = time.perf_counter()
        found = check_credentials(model, credentials, kind_for, doctor=True)
        elapsed = time.perf_counter() - started
    except (SettingsError, InvokeError) as exc:
        cls = "settings" if isinstance(exc, SettingsError) else type(exc).__name__
        return False, f"FAILED ({cls}): {exc}\nSaving this model in Dify would fail the same way."
    return True, "\n".join(_report(base_url, model, model_type, kinds[-1], found, elapsed, form))


def form_variables(path: Path = PROVIDER_YAML) -> list[str]:
    """The variables of the model form (the provider YAML), in the form's order."""
    provider = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [item["variable"] for item in provider["model_credential_schema"]["credential_form_schemas"]]


def _fields(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    known = form_variables()
    fields: dict[str, str] = {}
    for item in args.field:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            parser.error(f"--field takes name=value, got {item!r}")
        if name not in known:
            parser.error(f"--field {name!r} is not a field of the model form; the form has: {', '.join(known)}")
        if name in ("base_url", "api_key"):
            parser.error(f"give {name} with --{name.replace('_', '-')}")
        fields[name] = value
    for flag, variable, _ in NAMED_FIELDS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            fields[variable] = value
    return fields


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oai_bridge.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://localhost:11434/v1")
    parser.add_argument("--model", required=True, help="the model id at the endpoint")
    parser.add_argument("--type", default="llm", choices=list(TYPES), help="the model type (default llm)")
    parser.add_argument(
        "--api-key",
        default=None,
        help=f"never printed; better from the environment variable {API_KEY_ENV}, which `ps` does not show",
    )
    for flag, _, what in NAMED_FIELDS:
        parser.add_argument(flag, default=None, help=what)
    parser.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other field of the model form by its variable name, e.g. max_chunks=16; repeatable",
    )
    args = parser.parse_args(argv)
    fields = _fields(parser, args)
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    ok, text = diagnose(args.base_url, args.model, api_key, model_type=args.type, fields=fields)
    sys.stdout.write(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
