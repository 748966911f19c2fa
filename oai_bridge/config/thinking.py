"""The thinking choice of one call: the form's Thinking, replaced by the app's own parameters.

Dify's official OpenAI-compatible plugin gives each app an `enable_thinking` toggle and a
`reasoning_effort` choice (its parameter names, kept so exported apps carry over); here they are
offered on every chat model whose form's Thinking is not Off (`chat.schema`). Unset means the
form's value. The choice is resolved here once per call (`llm.call.plan_call`) and handed to
everything that sends or reads thinking: the Chat Completions body (`chat.body`), the Responses
body (`responses.body`), and the readers of the answer (`chat.pipeline`, `responses.events`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oai_bridge.config.settings import Settings, SettingsError, TriState

__all__ = ["EFFORTS", "ENABLE_THINKING", "REASONING_EFFORT", "ThinkingChoice", "thinking_choice"]

ENABLE_THINKING = "enable_thinking"
REASONING_EFFORT = "reasoning_effort"
# The levels the official plugin offers (OpenAI's, from `none` to `xhigh`); which of them a
# model takes is the server's business, as it is there.
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


@dataclass(frozen=True, slots=True)
class ThinkingChoice:
    """What one call asks of thinking, resolved from the form and the app's parameters."""

    mode: TriState
    """on / off: send the server's switch; auto: send none (the server's default)."""
    effort: str | None
    """A reasoning effort to send (one of EFFORTS); None: none chosen."""
    show_reasoning: bool
    """Whether reasoning the server sends reaches Dify (as `<think>`)."""
    start_in_reasoning: bool
    """Whether a stream's start is read as reasoning before any tag (On, and a template that opens
    `<think>` in the prompt; see `chat.think`)."""


def _enable(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "on", "1"):
        return True
    if text in ("false", "off", "0"):
        return False
    if not text:
        return None
    raise SettingsError(f"`{ENABLE_THINKING}` must be true or false, got {text[:20]!r}.")


def _effort(value: Any) -> str | None:
    text = "" if value is None else str(value).strip().lower()
    if not text:
        return None
    if text not in EFFORTS:
        raise SettingsError(f"`{REASONING_EFFORT}` must be one of {', '.join(EFFORTS)}, got {text[:20]!r}.")
    return text


def _tag_in_prompt(settings: Settings) -> bool:
    """Whether the template opens `<think>` in the prompt: as detected at save; unknown, only a
    form saved On says so (the user's word that the model always thinks), not an app's On."""
    found = settings.detected.value("think_in_prompt")
    return found == "true" if found is not None else settings.thinking == "on"


def thinking_choice(settings: Settings, params: Mapping[str, Any] | None = None) -> ThinkingChoice:
    """The thinking of one call: `enable_thinking` replaces the form's Thinking; an effort of
    `none` alone means Off; an explicit Off wins over any other effort (which is then not sent)."""
    params = params or {}
    enable = _enable(params.get(ENABLE_THINKING))
    effort = _effort(params.get(REASONING_EFFORT))
    mode: TriState
    if enable is not None:
        mode = "on" if enable else "off"
    elif effort == "none":
        mode = "off"
    else:
        mode = settings.thinking
    if mode == "off" and effort != "none":
        effort = None
    return ThinkingChoice(
        mode=mode,
        effort=effort,
        # Auto: shown when the server was seen reasoning (or nothing was detected).
        show_reasoning=settings.capability("thinking") if mode == "auto" else mode == "on",
        start_in_reasoning=mode == "on" and _tag_in_prompt(settings),
    )
