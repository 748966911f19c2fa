"""The LLM model class: settings -> request -> pooled client -> Dify result or stream.

Thin on purpose: every step is a function in `oai_bridge` that is tested without HTTP.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

import httpx
from dify_plugin import LargeLanguageModel
from dify_plugin.entities.model import AIModelEntity
from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk
from dify_plugin.entities.model.message import PromptMessage, PromptMessageTool, UserPromptMessage
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeError

from oai_bridge.chunks import assistant_message, final_chunk, text_chunk
from oai_bridge.errors import to_invoke_error, translated_errors
from oai_bridge.http import open_response, post_json, release
from oai_bridge.request import build_chat_body, build_completion_body
from oai_bridge.result import parse_completion
from oai_bridge.schema import capability, llm_schema
from oai_bridge.settings import Settings, SettingsError, parse_settings
from oai_bridge.sse import iter_sse_data
from oai_bridge.stream import StreamEnd, Usage, normalize_stream
from oai_bridge.tokens import estimate_messages, estimate_text

_PING = [UserPromptMessage(content="ping")]


def _request(
    settings: Settings,
    messages: Sequence[PromptMessage],
    params: Mapping[str, Any],
    tools: Sequence[PromptMessageTool] | None,
    stop: Sequence[str] | None,
    stream: bool,
) -> tuple[str, dict[str, Any]]:
    """The endpoint path and body for the configured mode."""
    if settings.mode == "completion":
        return "/completions", build_completion_body(settings, messages, params, stop=stop, stream=stream)
    return "/chat/completions", build_chat_body(settings, messages, params, tools=tools, stop=stop, stream=stream)


def _parse(model: str, credentials: Mapping[str, Any]) -> Settings:
    with translated_errors():  # SettingsError -> InvokeBadRequestError; its text holds no secrets
        return parse_settings(model, credentials)


class BridgeLargeLanguageModel(LargeLanguageModel):
    def _invoke(
        self,
        model: str,
        credentials: dict,
        prompt_messages: list[PromptMessage],
        model_parameters: dict,
        tools: list[PromptMessageTool] | None = None,
        stop: list[str] | None = None,
        stream: bool = True,
        user: str | None = None,
    ) -> LLMResult | Generator[LLMResultChunk, None, None]:
        del user  # never sent: strict servers reject `user`, and it identifies Dify's end users
        settings = _parse(model, credentials)
        with translated_errors(url=settings.base_url, secrets=settings.secrets):
            path, body = _request(settings, prompt_messages, model_parameters, tools, stop, stream)
            if stream:
                response = open_response(settings, path, body)
                return self._stream(settings, response, prompt_messages, tools, credentials)
            result = parse_completion(
                post_json(settings, path, body),
                completion_mode=settings.mode == "completion",
                show_reasoning=capability(settings, "thinking"),
            )
        usage = result.usage or Usage(estimate_messages(prompt_messages, tools), estimate_text(result.content))
        return LLMResult(
            model=model,
            message=assistant_message(result.content, result.tool_calls),
            usage=self._calc_response_usage(model, credentials, usage.prompt_tokens, usage.completion_tokens),
        )

    def _stream(
        self,
        settings: Settings,
        response: httpx.Response,
        prompt_messages: list[PromptMessage],
        tools: list[PromptMessageTool] | None,
        credentials: dict,
    ) -> Generator[LLMResultChunk, None, None]:
        model = settings.model
        produced: list[str] = []  # kept only for the usage estimate when the server sends none
        lines = response.iter_lines()
        try:
            with translated_errors(url=settings.base_url, secrets=settings.secrets):
                events = normalize_stream(
                    iter_sse_data(lines),
                    completion_mode=settings.mode == "completion",
                    show_reasoning=capability(settings, "thinking"),
                )
                for event in events:
                    if type(event) is str:
                        produced.append(event)
                        yield text_chunk(model, event)
                        continue
                    assert isinstance(event, StreamEnd)
                    usage = event.usage or Usage(
                        estimate_messages(prompt_messages, tools), estimate_text("".join(produced) + event.text)
                    )
                    yield final_chunk(
                        model,
                        event.text,
                        event.tool_calls,
                        self._calc_response_usage(model, credentials, usage.prompt_tokens, usage.completion_tokens),
                        event.finish_reason,
                    )
            release(response, lines)
        finally:
            response.close()

    def get_num_tokens(
        self,
        model: str,
        credentials: dict,
        prompt_messages: list[PromptMessage],
        tools: list[PromptMessageTool] | None = None,
    ) -> int:
        return estimate_messages(prompt_messages, tools)

    def validate_credentials(self, model: str, credentials: Mapping) -> None:
        """One minimal real request, so a saved model is known to answer."""
        try:
            settings = parse_settings(model, credentials)
            with translated_errors(url=settings.base_url, secrets=settings.secrets):
                path, body = _request(settings, _PING, {"max_tokens": 5}, None, None, stream=False)
                parse_completion(post_json(settings, path, body), completion_mode=settings.mode == "completion")
        except (SettingsError, InvokeError) as exc:
            raise CredentialsValidateFailedError(str(exc)) from None

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        return llm_schema(_parse(model, credentials))

    def _transform_invoke_error(self, error: Exception) -> InvokeError:
        # Errors are mapped and worded where they happen; the SDK default would reword them.
        return to_invoke_error(error)

    @property
    def _invoke_error_mapping(self) -> dict[type[InvokeError], list[type[Exception]]]:
        return {}  # unused: _transform_invoke_error is overridden
