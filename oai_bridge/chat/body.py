"""Dify prompt messages, tools and parameters -> an OpenAI-style request body. Pure; never
mutates its input; sends only fields OpenAI defines or the user set (strict servers such as
Mistral and Groq reject unknown ones)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dify_plugin.entities.model.message import (
    AssistantPromptMessage,
    AudioPromptMessageContent,
    DocumentPromptMessageContent,
    ImagePromptMessageContent,
    PromptMessage,
    PromptMessageRole,
    PromptMessageTool,
    TextPromptMessageContent,
    ToolPromptMessage,
    VideoPromptMessageContent,
)

from oai_bridge.chat.think import split_whole_answer, strip_think
from oai_bridge.config.settings import Settings
from oai_bridge.config.thinking import ThinkingChoice
from oai_bridge.dialects.dialect import Dialect, dialect_for, with_video_parts
from oai_bridge.errors.kinds import UnsendableInputError

__all__ = [
    "build_chat_body",
    "build_completion_body",
    "build_messages",
    "build_request",
    "message_text",
    "messages_to_prompt",
    "response_format_field",
    "thinking_fields",
    "tool_to_openai",
]

# Dify parameter name -> request field, for parameters passed through unchanged.
_PASSTHROUGH_PARAMS = (
    "temperature",
    "top_p",
    "top_k",
    "presence_penalty",
    "frequency_penalty",
    "max_tokens",
    "seed",
)


def message_text(message: PromptMessage) -> str:
    """The text parts of a message, joined."""
    return message.get_text_content()


def _user_content(message: PromptMessage, *, vision: bool) -> str | list[dict[str, Any]]:
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPromptMessageContent):
            parts.append({"type": "text", "text": part.data})
        elif isinstance(part, ImagePromptMessageContent):
            if vision:
                parts.append({"type": "image_url", "image_url": {"url": part.data, "detail": part.detail.value}})
        elif isinstance(part, AudioPromptMessageContent):
            parts.append({"type": "input_audio", "input_audio": {"data": part.base64_data, "format": part.format}})
        elif isinstance(part, VideoPromptMessageContent):
            parts.append({"type": "video_url", "video_url": {"url": part.data}})
        elif isinstance(part, DocumentPromptMessageContent):
            parts.append({"type": "file", "file": {"file_data": part.data, "filename": part.filename or "document"}})
        else:
            raise UnsendableInputError(f"Unsupported message content part: {type(part).__name__}")
    # Many servers' chat templates expect a plain string: send text-only content as one.
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _assistant_message(message: AssistantPromptMessage, *, echo_reasoning: bool) -> dict[str, Any]:
    raw = message_text(message)
    text = strip_think(raw)
    out: dict[str, Any] = {"role": "assistant", "content": text}
    if message.tool_calls:
        if echo_reasoning:
            reasoning, _ = split_whole_answer(raw)
            if reasoning:
                out["reasoning_content"] = reasoning.strip()
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.function.name, "arguments": call.function.arguments or "{}"},
            }
            for call in message.tool_calls
        ]
        # OpenAI's own shape: null content beside tool calls.
        if not text:
            out["content"] = None
    return out


def _one_message(message: PromptMessage, *, vision: bool, echo_reasoning: bool) -> dict[str, Any]:
    role = message.role
    if role is PromptMessageRole.USER:
        return {"role": "user", "content": _user_content(message, vision=vision)}
    if role is PromptMessageRole.ASSISTANT:
        if isinstance(message, AssistantPromptMessage):
            return _assistant_message(message, echo_reasoning=echo_reasoning)
        return {"role": "assistant", "content": message_text(message)}  # no tool calls to carry
    if role in (PromptMessageRole.SYSTEM, PromptMessageRole.DEVELOPER):
        # Most OpenAI-compatible servers reject the `developer` role; `system` means the same.
        return {"role": "system", "content": message_text(message)}
    if role is PromptMessageRole.TOOL:
        if not isinstance(message, ToolPromptMessage):
            raise UnsendableInputError("A tool message came without the id of the tool call it answers.")
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message_text(message)}
    raise UnsendableInputError(f"Unsupported message role: {role}")


def build_messages(
    messages: Sequence[PromptMessage], *, vision: bool = True, echo_reasoning: bool = False
) -> list[dict[str, Any]]:
    """Dify messages -> OpenAI chat messages (no `name` fields: Groq and some vLLM modes reject them).

    Reasoning of earlier turns is stripped, except `echo_reasoning`: DeepSeek's thinking mode
    answers 400 unless assistant tool-call turns carry their `reasoning_content`."""
    return [_one_message(message, vision=vision, echo_reasoning=echo_reasoning) for message in messages]


def tool_to_openai(tool: PromptMessageTool) -> dict[str, Any]:
    parameters = tool.parameters or {"type": "object", "properties": {}}
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": parameters},
    }


def response_format_field(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `response_format` request field for Dify's response_format/json_schema parameters."""
    kind = params.get("response_format")
    if not kind or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        raw = params.get("json_schema")
        if not raw:
            raise UnsendableInputError("response_format json_schema needs the json_schema parameter (a JSON schema).")
        try:
            schema = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except ValueError as exc:
            raise UnsendableInputError(f"json_schema is not valid JSON: {exc}") from None
        if not isinstance(schema, dict):
            raise UnsendableInputError("json_schema must be a JSON object.")
        # Dify sends {"name", "schema"}; a bare schema typed by a user gets wrapped.
        if "schema" not in schema:
            schema = {"name": "response", "schema": schema}
        schema.setdefault("name", "response")
        return {"type": "json_schema", "json_schema": schema}
    raise UnsendableInputError(f"Unsupported response_format {kind!r}; use text, json_object or json_schema.")


def _common_fields(
    settings: Settings, params: Mapping[str, Any], stop: Sequence[str] | None, stream: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": settings.endpoint_model}
    for name in _PASSTHROUGH_PARAMS:
        value = params.get(name)
        if value is not None:
            body[name] = value
    if stop:
        body["stop"] = list(stop)
    if stream:
        body["stream"] = True
        # Usage on the final chunk; only ever sent with stream=true (vLLM rejects it otherwise).
        body["stream_options"] = {"include_usage": True}
    return body


def thinking_fields(choice: ThinkingChoice, dialect: Dialect) -> dict[str, Any]:
    """The thinking switch as the server's dialect says it, sent only when set explicitly (in the
    form or by the app), and a chosen effort as `reasoning_effort` (and, where the dialect speaks
    `chat_template_kwargs`, there too: gpt-oss templates read it from there)."""
    if choice.mode == "on":
        fields = dict(dialect.thinking_on)
    elif choice.mode == "off":
        fields = dict(dialect.thinking_off)
    else:
        fields = {}
    if choice.effort is not None:
        fields["reasoning_effort"] = choice.effort  # the app's choice, over the dialect's own Off
        if choice.mode != "off" and "chat_template_kwargs" in dialect.thinking_on:
            kwargs = fields.get("chat_template_kwargs", {})
            fields["chat_template_kwargs"] = {**kwargs, "reasoning_effort": choice.effort}
    return fields


def build_chat_body(
    settings: Settings,
    messages: Sequence[PromptMessage],
    params: Mapping[str, Any],
    *,
    thinking: ThinkingChoice,
    tools: Sequence[PromptMessageTool] | None = None,
    stop: Sequence[str] | None = None,
    stream: bool = True,
) -> dict[str, Any]:
    """The /chat/completions body, with the call's thinking choice (`config.thinking`) in the
    server's dialect."""
    dialect = dialect_for(
        settings.base_url, settings.detected.value("thinking_form"), settings.detected.value("server")
    )
    body = _common_fields(settings, params, stop, stream)
    body["messages"] = build_messages(messages, vision=settings.vision != "off", echo_reasoning=dialect.echo_reasoning)
    body = with_video_parts(body, dialect.video_part) or body
    if tools and settings.tool_calling != "off":
        body["tools"] = [tool_to_openai(tool) for tool in tools]
    response_format = response_format_field(params)
    if response_format:
        body["response_format"] = response_format
    body.update(thinking_fields(thinking, dialect))
    if dialect.max_tokens_field != "max_tokens" and "max_tokens" in body:
        body[dialect.max_tokens_field] = body.pop("max_tokens")
    body.update(settings.extra_body)
    return body


def build_request(
    settings: Settings,
    messages: Sequence[PromptMessage],
    params: Mapping[str, Any],
    *,
    thinking: ThinkingChoice,
    tools: Sequence[PromptMessageTool] | None,
    stop: Sequence[str] | None,
    stream: bool,
) -> tuple[str, dict[str, Any]]:
    """The endpoint path and body for the configured mode (chat or completion)."""
    if settings.mode == "completion":
        return "/completions", build_completion_body(settings, messages, params, stop=stop, stream=stream)
    body = build_chat_body(settings, messages, params, thinking=thinking, tools=tools, stop=stop, stream=stream)
    return "/chat/completions", body


def messages_to_prompt(messages: Sequence[PromptMessage]) -> str:
    """One prompt for /completions. Dify sends completion-mode apps a single user message; anything
    else is laid out as a plain transcript ending where the assistant speaks."""
    if len(messages) == 1 and messages[0].role is PromptMessageRole.USER:
        return message_text(messages[0])
    lines = []
    for message in messages:
        role = message.role.value.capitalize()
        lines.append(f"{role}: {strip_think(message_text(message))}")
    lines.append("Assistant:")
    return "\n\n".join(lines)


def build_completion_body(
    settings: Settings,
    messages: Sequence[PromptMessage],
    params: Mapping[str, Any],
    *,
    stop: Sequence[str] | None = None,
    stream: bool = True,
) -> dict[str, Any]:
    """The legacy /completions body."""
    body = _common_fields(settings, params, stop, stream)
    body["prompt"] = messages_to_prompt(messages)
    body.update(settings.extra_body)
    return body
