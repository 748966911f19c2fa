"""Endpoint doctor: `python -m oai_bridge.doctor --base-url URL --model NAME [--type TYPE] [--api-key KEY]`
(or `make doctor BASE_URL=… MODEL=… TYPE=…`). Runs exactly the detection that saving a model in
Dify runs (`discovery.detect`, same requests, same bounds) and prints what the endpoint supports
and what to enter in Dify's model form.

A command-line tool for people; it never runs inside the plugin process.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from dify_plugin.errors.model import InvokeError

from oai_bridge.config.settings import SettingsError, parse_settings
from oai_bridge.config.urls import base_query, display_url, secret_query_values, with_query
from oai_bridge.discovery.detect import Detection, ModelKind, detect
from oai_bridge.errors.invoke import to_invoke_error

__all__ = ["TYPES", "diagnose", "main"]

# --type -> (Dify's model type, detection kind, form values that select it)
TYPES: Mapping[str, tuple[str, ModelKind, Mapping[str, str]]] = {
    "llm": ("LLM", "chat", {}),
    "completion": ("LLM", "completion", {"mode": "completion"}),
    "embedding": ("Text Embedding", "embedding", {}),
    "rerank": ("Rerank", "rerank", {}),
    "speech2text": ("Speech2text", "speech2text", {}),
    "tts": ("TTS", "tts", {}),
}
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


def _report(base_url: str, model: str, model_type: str, found: Detection, elapsed: float) -> list[str]:
    dify_type, kind, form = TYPES[model_type]
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
    lines += [f"  {name:<19} {value}" for name, value in form.items()]
    if found.values.get("api_type") == "responses":
        lines.append("  API type            Responses (Auto finds it too: only /responses answers)")
    if base_url.strip().rstrip("/") != corrected:
        lines.append(f"  (the base URL you gave, {display_url(base_url)}, was corrected)")
    return lines


def diagnose(
    base_url: str, model: str, api_key: str | None = None, *, model_type: str = "llm", timeout: float | None = None
) -> tuple[bool, str]:
    """(ok, report text) for the endpoint; the text says what is wrong when it is not ok."""
    _, kind, form = TYPES[model_type]
    credentials = {"base_url": base_url, "api_key": api_key or "", **form}
    if timeout:
        credentials["timeout"] = str(timeout)
    try:
        settings = parse_settings(model, credentials)
        started = time.perf_counter()
        found = detect(settings, kind, doctor=True)
        elapsed = time.perf_counter() - started
    except SettingsError as exc:
        return False, f"Settings problem: {exc}"
    except Exception as exc:  # noqa: BLE001 - every failure is reported in words, like the plugin does
        secrets = (api_key or "", *secret_query_values(base_query(base_url)))
        error: InvokeError = to_invoke_error(exc, url=base_url, secrets=secrets)
        return False, f"FAILED ({type(error).__name__}): {error}\nSaving this model in Dify would fail the same way."
    return True, "\n".join(_report(base_url, model, model_type, found, elapsed))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oai_bridge.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://localhost:11434/v1")
    parser.add_argument("--model", required=True, help="the model id at the endpoint")
    parser.add_argument("--type", default="llm", choices=sorted(TYPES), help="the model type (default llm)")
    parser.add_argument("--api-key", default=None, help="optional; never printed")
    parser.add_argument("--timeout", type=float, default=None, help="the model's timeout, as in the form")
    args = parser.parse_args(argv)
    ok, text = diagnose(args.base_url, args.model, args.api_key, model_type=args.type, timeout=args.timeout)
    sys.stdout.write(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
