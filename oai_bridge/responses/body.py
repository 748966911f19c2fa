"""Dify prompt messages, tools and parameters -> a `/responses` request body. Pure; never mutates
its input; sends only fields the Responses API defines or the user set.

The system prompt becomes `instructions`; history becomes input items, with each assistant turn's
`function_call` items replayed ahead of the `function_call_output` items that answer them (a
stateless request must carry both). `stop` is not sent (the API has none: the plugin applies it,
see `responses.stops`), nor are `top_k`, penalties or `seed`.
"""

from __future__ import annotations

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

from oai_bridge.chat.body import message_text, response_format_field
from oai_bridge.chat.think import strip_think
from oai_bridge.config.settings import Settings
from oai_bridge.config.thinking import ThinkingChoice
from oai_bridge.config.websearch import web_search_tool
from oai_bridge.errors.kinds import UnsendableInputError

__all__ = ["PATH", "build_responses_body", "input_items", "reasoning_field", "text_format", "tool_to_responses"]

PATH = "/responses"
# Dify parameter -> Responses field, passed through unchanged when set.
_PASSTHROUGH = (("temperature", "temperature"), ("top_p", "top_p"), ("max_tokens", "max_output_tokens"))
_NO_PART = (
    "The Responses API has no input part for {kind}: remove the {kind} file, or set this model's "
    "API type to Chat completions if its server takes {kind} there."
)


def _user_content(message: PromptMessage, *, vision: bool) -> str | list[dict[str, Any]]:
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPromptMessageContent):
            parts.append({"type": "input_text", "text": part.data})
        elif isinstance(part, ImagePromptMessageContent):
            if vision:
                parts.append({"type": "input_image", "image_url": part.data, "detail": part.detail.value})
        elif isinstance(part, DocumentPromptMessageContent):
            data = part.data
            where = {"file_data": data} if data.startswith("data:") else {"file_url": data}
            parts.append({"type": "input_file", "filename": part.filename or "document", **where})
        elif isinstance(part, VideoPromptMessageContent):
            raise UnsendableInputError(_NO_PART.format(kind="video"))
        elif isinstance(part, AudioPromptMessageContent):
            raise UnsendableInputError(_NO_PART.format(kind="audio"))
        else:
            raise UnsendableInputError(f"The Responses API has no input part for {type(part).__name__}.")
    if all(p["type"] == "input_text" for p in parts):
        return "".join(p["text"] for p in parts)  # plain text as a string, like chat mode
    return parts


def _assistant_items(message: AssistantPromptMessage) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    text = strip_think(message_text(message))  # earlier reasoning is not sent back
    if text:
        items.append({"type": "message", "role": "assistant", "content": text})
    for call in message.tool_calls:
        items.append(
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.function.name,
                "arguments": call.function.arguments or "{}",
            }
        )
    return items


def input_items(messages: Sequence[PromptMessage], *, vision: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """(instructions, input items): system and developer messages joined as the instructions,
    everything else in order as items. Messages say `type: message`: llama.cpp's `/v1/responses`
    refuses an assistant item without it ("Cannot determine type of 'item'")."""
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for message in messages:
        role = message.role
        if role in (PromptMessageRole.SYSTEM, PromptMessageRole.DEVELOPER):
            text = message_text(message)
            if text:
                instructions.append(text)
        elif role is PromptMessageRole.USER:
            items.append({"type": "message", "role": "user", "content": _user_content(message, vision=vision)})
        elif role is PromptMessageRole.ASSISTANT:
            if isinstance(message, AssistantPromptMessage):
                items += _assistant_items(message)
            elif text := strip_think(message_text(message)):  # no tool calls to carry
                items.append({"type": "message", "role": "assistant", "content": text})
        elif role is PromptMessageRole.TOOL:
            if not isinstance(message, ToolPromptMessage):
                raise UnsendableInputError("A tool message came without the id of the tool call it answers.")
            items.append(
                {"type": "function_call_output", "call_id": message.tool_call_id, "output": message_text(message)}
            )
        else:
            raise UnsendableInputError(f"The Responses API has no input item for the role {role.value!r}.")
    return "\n\n".join(instructions), items


def tool_to_responses(tool: PromptMessageTool) -> dict[str, Any]:
    """A Responses function tool: flat, not nested under `function` as in chat completions."""
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters or {"type": "object", "properties": {}},
    }


def text_format(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """`text.format` for Dify's response_format/json_schema parameters (None for plain text)."""
    chat_form = response_format_field(params)
    if chat_form is None:
        return None
    if chat_form["type"] != "json_schema":
        return {"type": chat_form["type"]}
    schema = chat_form["json_schema"]
    out: dict[str, Any] = {"type": "json_schema", "name": schema["name"], "schema": schema["schema"]}
    if "strict" in schema:
        out["strict"] = schema["strict"]
    return out


def reasoning_field(settings: Settings, choice: ThinkingChoice) -> dict[str, Any] | None:
    """`reasoning` from the call's thinking choice (the app's Thinking mode / Reasoning effort,
    else the form's Thinking; `config.thinking`): Off is `effort: none`; a chosen effort is sent
    as `effort`; summaries (`summary: auto`) are asked for when thinking is wanted: On, an effort
    chosen, or Auto on a model seen reasoning at save. A server that refuses either has it shed
    (`dialects.learned`, with a log line)."""
    if choice.mode == "off":
        return {"effort": "none"}
    out: dict[str, Any] = {}
    if choice.effort is not None:
        out["effort"] = choice.effort
    wanted = choice.mode == "on" or choice.effort is not None or bool(settings.detected.feature("thinking"))
    if wanted and choice.show_reasoning:
        out["summary"] = "auto"
    return out or None


def build_responses_body(
    settings: Settings,
    messages: Sequence[PromptMessage],
    params: Mapping[str, Any],
    *,
    thinking: ThinkingChoice,
    tools: Sequence[PromptMessageTool] | None = None,
    stream: bool = True,
) -> dict[str, Any]:
    """The `/responses` body: stateless (`store: false`), the whole conversation as input, with
    the call's thinking choice (`config.thinking`) as `reasoning`."""
    instructions, items = input_items(messages, vision=settings.vision != "off")
    body: dict[str, Any] = {"model": settings.endpoint_model, "input": items, "store": False}
    if instructions:
        body["instructions"] = instructions
    for name, field in _PASSTHROUGH:
        value = params.get(name)
        if value is not None:
            body[field] = value
    if stream:
        body["stream"] = True
    functions = [tool_to_responses(tool) for tool in tools or ()] if settings.tool_calling != "off" else []
    search = web_search_tool(params)  # OpenAI's hosted tool, when the app turned it on
    if functions or search:
        body["tools"] = [*functions, search] if search else functions
    fmt = text_format(params)
    if fmt:
        body["text"] = {"format": fmt}
    reasoning = reasoning_field(settings, thinking)
    if reasoning:
        body["reasoning"] = reasoning
    body.update(settings.extra_body)
    return body
