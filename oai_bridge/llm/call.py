"""One LLM call planned: the API it takes and what goes with it, decided in one place.

A model on the Responses API (`Settings.responses_api`) posts to `/responses` and reads the
answer with `responses.events.ResponsesReader` / `responses.answer.parse_response`, applying
`stop` itself (the API has no `stop`); any other posts the chat or completion body and reads it
with the chat reader / `chat.answer.parse_completion`. The call's thinking choice is resolved
here, once (`config.thinking`), and the body, the stream reader and the blocking parser all
take that one choice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from dify_plugin.entities.model.message import PromptMessage, PromptMessageTool

from oai_bridge.chat.answer import Completion, parse_completion
from oai_bridge.chat.body import build_request
from oai_bridge.chat.pipeline import EventReader, chat_reader
from oai_bridge.config.settings import Settings
from oai_bridge.config.thinking import thinking_choice
from oai_bridge.responses.answer import parse_response
from oai_bridge.responses.body import PATH as RESPONSES_PATH
from oai_bridge.responses.body import build_responses_body
from oai_bridge.responses.events import ResponsesReader

__all__ = ["LlmCall", "plan_call"]


@dataclass(frozen=True, slots=True)
class LlmCall:
    """What one LLM call sends and how its answer is read."""

    path: str
    """The endpoint path: `/chat/completions`, `/completions` or `/responses`."""
    body: dict[str, Any]
    """The request body, as built (fields the endpoint refused are shed when it is sent)."""
    reader: Callable[[], EventReader]
    """Makes the event reader of one attempt at a stream (`chat.pipeline.stream_events`)."""
    parse: Callable[[Any], Completion]
    """Reads a blocking answer."""


def plan_call(
    settings: Settings,
    messages: Sequence[PromptMessage],
    params: Mapping[str, Any],
    *,
    tools: Sequence[PromptMessageTool] | None,
    stop: Sequence[str] | None,
    stream: bool,
) -> LlmCall:
    """The call Dify asked for (its messages, model parameters, tools, stop strings, stream)."""
    thinking = thinking_choice(settings, params)  # the app's choice, else the form's
    show = thinking.show_reasoning
    if settings.responses_api:
        stops = tuple(stop or ())
        body = build_responses_body(settings, messages, params, thinking=thinking, tools=tools, stream=stream)
        return LlmCall(
            path=RESPONSES_PATH,
            body=body,
            reader=partial(ResponsesReader, show_reasoning=show, stop=stops),
            parse=partial(parse_response, show_reasoning=show, stop=stops),
        )
    path, body = build_request(settings, messages, params, thinking=thinking, tools=tools, stop=stop, stream=stream)
    return LlmCall(
        path=path,
        body=body,
        reader=partial(chat_reader, settings, thinking),
        parse=partial(parse_completion, completion_mode=settings.mode == "completion", show_reasoning=show),
    )
