"""The LLM model class: settings -> request -> pooled client -> Dify result or stream.

Thin on purpose: every step is a function in `oai_bridge` that is tested without HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import httpx
from dify_plugin import LargeLanguageModel
from dify_plugin.entities.model import AIModelEntity, ParameterRule, PriceInfo, PriceType
from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk
from dify_plugin.entities.model.message import PromptMessage, PromptMessageTool, UserPromptMessage
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeError

from oai_bridge.chunks import assistant_message, final_chunk, text_chunk
from oai_bridge.errors import StreamIncompleteError, to_invoke_error, translated_errors
from oai_bridge.http import is_stall, open_response, post_json, release
from oai_bridge.probe import auto_capabilities, lazy_detected, probe_endpoint, require_listed, save_findings
from oai_bridge.request import build_chat_body, build_completion_body
from oai_bridge.result import parse_completion
from oai_bridge.schema import ZERO_PRICE, capability, known_context_size, llm_schema, parameter_rules
from oai_bridge.settings import Settings, SettingsError, parse_settings
from oai_bridge.sse import iter_lines, iter_sse_data
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
                reopen = partial(open_response, settings, path, body)
                return self._stream(settings, response, reopen, prompt_messages, tools, credentials)
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
        reopen: Callable[[], httpx.Response],
        prompt_messages: list[PromptMessage],
        tools: list[PromptMessageTool] | None,
        credentials: dict,
    ) -> Generator[LLMResultChunk, None, None]:
        model = settings.model
        produced: list[str] = []  # what reached Dify; also the usage estimate when the server sends none
        try:
            with translated_errors(url=settings.base_url, secrets=settings.secrets):
                for attempt in range(settings.max_retries + 1):
                    lines = iter_lines(response.iter_text())
                    events = normalize_stream(
                        iter_sse_data(lines),
                        completion_mode=settings.mode == "completion",
                        show_reasoning=capability(settings, "thinking"),
                        start_in_reasoning=settings.thinking == "on",
                    )
                    try:
                        for event in events:
                            if type(event) is str:
                                produced.append(event)
                                yield text_chunk(model, event)
                            else:
                                assert isinstance(event, StreamEnd)
                                yield self._final_chunk(event, produced, prompt_messages, tools, credentials, model)
                    except (httpx.TransportError, StreamIncompleteError) as exc:
                        # The connection broke: start over only if Dify has seen nothing yet
                        # (a stall is not retried: `timeout` is its bound).
                        if produced or attempt == settings.max_retries or is_stall(exc):
                            raise
                        response.close()
                        response = reopen()
                        continue
                    release(response, lines)
                    return
        finally:
            response.close()

    def _final_chunk(
        self,
        end: StreamEnd,
        produced: list[str],
        prompt_messages: list[PromptMessage],
        tools: list[PromptMessageTool] | None,
        credentials: dict,
        model: str,
    ) -> LLMResultChunk:
        usage = end.usage or Usage(
            estimate_messages(prompt_messages, tools), estimate_text("".join(produced) + end.text)
        )
        return final_chunk(
            model,
            end.text,
            end.tool_calls,
            self._calc_response_usage(model, credentials, usage.prompt_tokens, usage.completion_tokens),
            end.finish_reason,
        )

    def get_num_tokens(
        self,
        model: str,
        credentials: dict,
        prompt_messages: list[PromptMessage],
        tools: list[PromptMessageTool] | None = None,
    ) -> int:
        return estimate_messages(prompt_messages, tools)

    def validate_credentials(self, model: str, credentials: dict) -> None:  # type: ignore[override]
        """Probe the endpoint with small real requests. What is found (a corrected base URL, the
        context size, capabilities left on auto) is written into `credentials`, which Dify saves."""
        try:
            settings = parse_settings(model, credentials)
            with translated_errors(url=settings.base_url, secrets=settings.secrets):
                chat = settings.mode == "chat"
                probe = probe_endpoint(settings, capabilities=auto_capabilities(settings), chat=chat)
                require_listed(settings, probe)
                if not chat:
                    settings = replace(settings, base_url=probe.base_url)
                    path, body = _request(settings, _PING, {"max_tokens": 5}, None, None, stream=False)
                    parse_completion(post_json(settings, path, body), completion_mode=True)
        except (SettingsError, InvokeError) as exc:
            raise CredentialsValidateFailedError(str(exc)) from None
        save_findings(credentials, probe)

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        settings = _parse(model, credentials)
        return llm_schema(replace(settings, detected=lazy_detected(settings)))

    def get_parameter_rules(self, model: str, credentials: dict) -> list[ParameterRule]:
        # Used by the SDK to filter each call's parameters: built without probing the endpoint,
        # and without the SDK's template defaults (whose max_tokens cap of 2048 would refuse
        # valid requests); max_tokens is bounded only by what the form or validation says.
        settings = _parse(model, credentials)
        return parameter_rules(settings, max_tokens=settings.max_tokens or known_context_size(settings))

    def get_price(self, model: str, credentials: dict, price_type: PriceType, tokens: int) -> PriceInfo:
        # Self-hosted endpoints have no price list; skip the SDK's per-call schema lookup.
        return ZERO_PRICE

    def _transform_invoke_error(self, error: Exception) -> InvokeError:
        # Errors are mapped and worded where they happen; the SDK default would reword them.
        return to_invoke_error(error)

    @property
    def _invoke_error_mapping(self) -> dict[type[InvokeError], list[type[Exception]]]:
        return {}  # unused: _transform_invoke_error is overridden
