"""The LLM model class: a thin adapter from Dify's calls to the call `oai_bridge.llm.call` plans
(chat completions, completions or the Responses API), streamed or posted, wrapped in Dify's types."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import replace

from dify_plugin import LargeLanguageModel
from dify_plugin.entities.model import AIModelEntity, ParameterRule, PriceInfo, PriceType
from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMUsage
from dify_plugin.entities.model.message import PromptMessage, PromptMessageTool

from oai_bridge.adapter.base import ZERO_PRICE, BridgeModel, settings_for, validate_and_save
from oai_bridge.chat.events import StreamEnd, Usage
from oai_bridge.chat.pipeline import stream_events
from oai_bridge.chat.results import assistant_message, final_chunk, text_chunk
from oai_bridge.chat.schema import llm_schema, parameter_rules
from oai_bridge.config.settings import Settings
from oai_bridge.discovery.detect import kind_of, lazy_detected
from oai_bridge.errors.invoke import endpoint_errors
from oai_bridge.llm.call import LlmCall, plan_call
from oai_bridge.tokens import estimate_messages, estimate_text
from oai_bridge.transport.send import post_json


class BridgeLargeLanguageModel(BridgeModel, LargeLanguageModel):
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
        settings = settings_for(model, credentials)
        with endpoint_errors(settings):
            plan = plan_call(settings, prompt_messages, model_parameters, tools=tools, stop=stop, stream=stream)
            if stream:
                return self._stream(settings, plan, prompt_messages, tools)
            result = plan.parse(post_json(settings, plan.path, plan.body))
        usage = (result.usage or Usage(None, None)).completed(
            lambda: estimate_messages(prompt_messages, tools), lambda: estimate_text(result.content)
        )
        return LLMResult(
            model=model, message=assistant_message(result.content, result.tool_calls), usage=self._usage(usage)
        )

    def _stream(
        self,
        settings: Settings,
        plan: LlmCall,
        prompt_messages: list[PromptMessage],
        tools: list[PromptMessageTool] | None,
    ) -> Generator[LLMResultChunk, None, None]:
        model = settings.model
        with endpoint_errors(settings):
            for event in stream_events(
                settings,
                plan.path,
                plan.body,
                prompt_tokens=lambda: estimate_messages(prompt_messages, tools),
                reader=plan.reader,
            ):
                if type(event) is str:
                    yield text_chunk(model, event)
                elif isinstance(event, StreamEnd):
                    usage = event.usage or Usage(None, None)  # stream_events completes it
                    yield final_chunk(model, event.text, event.tool_calls, self._usage(usage), event.finish_reason)
                else:  # stream_events yields text and one end, nothing else
                    raise TypeError(f"stream_events yielded {type(event).__name__}")

    def _usage(self, usage: Usage) -> LLMUsage:
        # The SDK's price lookup returns zero for customizable models; no credentials needed.
        return self._calc_response_usage("", {}, usage.prompt_tokens or 0, usage.completion_tokens or 0)

    def get_num_tokens(
        self,
        model: str,
        credentials: dict,
        prompt_messages: list[PromptMessage],
        tools: list[PromptMessageTool] | None = None,
    ) -> int:
        return estimate_messages(prompt_messages, tools)

    # Dify passes a dict and saves what validation writes into it (the findings); the SDK says Mapping.
    def validate_credentials(self, model: str, credentials: dict) -> None:  # type: ignore[override]  # see above
        """Detect what the endpoint supports with small real requests and save it with the model."""
        validate_and_save(model, credentials, lambda settings: kind_of(settings, "llm"))

    def get_customizable_model_schema(self, model: str, credentials: Mapping) -> AIModelEntity:
        settings = settings_for(model, credentials)
        return llm_schema(replace(settings, detected=lazy_detected(settings, kind_of(settings, "llm"))))

    def get_parameter_rules(self, model: str, credentials: dict) -> list[ParameterRule]:
        # Used by the SDK to filter each call's parameters: built without probing the endpoint,
        # and without the SDK's template defaults (whose max_tokens cap of 2048 would refuse
        # valid requests); max_tokens is bounded only by what the form or validation says.
        settings = settings_for(model, credentials)
        return parameter_rules(settings, max_tokens=settings.max_tokens or settings.known_context_size)

    def get_price(self, model: str, credentials: dict, price_type: PriceType, tokens: int) -> PriceInfo:
        # Self-hosted endpoints have no price list; skip the SDK's per-call schema lookup.
        return ZERO_PRICE
