"""Endpoint doctor: `python -m oai_bridge.doctor --base-url URL --model NAME [--api-key KEY]`
(or `make doctor BASE_URL=… MODEL=…`). Runs the same probes as saving a model in Dify and
prints what the endpoint supports and what to enter in Dify's model form.

A command-line tool for people; it never runs inside the plugin process.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from dify_plugin.errors.model import InvokeError

from oai_bridge.config.settings import SettingsError, parse_settings
from oai_bridge.discovery.detect import Detection, detect
from oai_bridge.errors.invoke import to_invoke_error

__all__ = ["diagnose", "main"]

_LABELS = {
    "tool_calling": "Tool calling",
    "structured_output": "Structured output",
    "vision": "Vision",
    "audio": "Audio input",
}


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def _report(base_url: str, model: str, probe: Detection, elapsed: float) -> list[str]:
    lines = [f"Endpoint: {probe.base_url}   model: {model}", ""]
    if probe.models is None:
        lines.append("  Models listed       (the server lists none at /models)")
    else:
        shown = ", ".join(probe.models[:10]) + (" …" if len(probe.models) > 10 else "")
        lines.append(f"  Models listed       {len(probe.models)}: {shown}")
    lines.append(f"  Chat                ok ({elapsed:.2f} s for all probes)")
    lines.append(f"  Context size        {probe.context_size or 'not reported (4096 is assumed)'}")
    for name, label in _LABELS.items():
        lines.append(f"  {label:<19} {_yes_no(probe.features.get(name))}")
    lines.append(f"  Usage in streams    {_yes_no(probe.streamed_usage)}")
    lines.append(f"  Reasoning           {'seen' if probe.reasoning_seen else 'not seen in a short answer'}")
    lines += [f"  Note: {note}" for note in probe.notes]
    lines += [
        "",
        "Enter in Dify (Settings > Model Provider > OpenAI-Compatible Bridge > Add model):",
        f"  Model name          {model}",
        f"  Base URL            {probe.base_url}",
        "  API key             (your key, or empty if the server needs none)",
        f"  Context size        {probe.context_size or 'empty'}  (empty = detected when saving)",
    ]
    for name, label in _LABELS.items():
        found = probe.features.get(name)
        lines.append(f"  {label:<19} auto  (detected: {'on' if found else 'off' if found is False else '?'})")
    if base_url.rstrip("/") != probe.base_url:
        lines.append(f"  (the base URL you gave, {base_url}, was corrected)")
    return lines


def diagnose(base_url: str, model: str, api_key: str | None = None, timeout: float = 30.0) -> tuple[bool, str]:
    """(ok, report text) for the endpoint; the text says what is wrong when it is not ok."""
    credentials = {"base_url": base_url, "api_key": api_key or "", "timeout": str(timeout)}
    try:
        settings = parse_settings(model, credentials)
        started = time.perf_counter()
        probe = detect(settings, "chat", doctor=True)
        elapsed = time.perf_counter() - started
    except SettingsError as exc:
        return False, f"Settings problem: {exc}"
    except Exception as exc:  # noqa: BLE001 - every failure is reported in words, like the plugin does
        error: InvokeError = to_invoke_error(exc, url=base_url, secrets=(api_key or "",))
        return False, f"FAILED ({type(error).__name__}): {error}"
    return True, "\n".join(_report(base_url, model, probe, elapsed))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oai_bridge.doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="e.g. http://localhost:11434/v1")
    parser.add_argument("--model", required=True, help="the model id at the endpoint")
    parser.add_argument("--api-key", default=None, help="optional; never printed")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per probe (default 30)")
    args = parser.parse_args(argv)
    ok, text = diagnose(args.base_url, args.model, args.api_key, args.timeout)
    sys.stdout.write(text + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
