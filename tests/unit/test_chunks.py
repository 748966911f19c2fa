"""The hot-path chunk builder must produce exactly what pydantic builds."""

from __future__ import annotations

import pytest
from dify_plugin.entities.model.llm import LLMResultChunk, LLMResultChunkDelta
from dify_plugin.entities.model.message import AssistantPromptMessage

from oai_bridge.chat.results import text_chunk


@pytest.mark.parametrize("text", ["Hello", "", "<think>\n", "ü 你好 \u2028"])
def test_text_chunk_equals_a_validated_chunk(text):
    expected = LLMResultChunk(
        model="m", delta=LLMResultChunkDelta(index=0, message=AssistantPromptMessage(content=text, tool_calls=[]))
    )
    built = text_chunk("m", text)
    assert built.model_dump() == expected.model_dump()
    assert built.model_dump_json() == expected.model_dump_json()
    assert built == expected


@pytest.mark.parametrize("cls", [LLMResultChunk, LLMResultChunkDelta, AssistantPromptMessage])
def test_text_chunk_sets_every_field_the_sdk_models_have(cls):
    # An SDK upgrade that adds a field must fail here, not silently drop it from chunks
    built = text_chunk("m", "x")
    objects = {LLMResultChunk: built, LLMResultChunkDelta: built.delta, AssistantPromptMessage: built.delta.message}
    assert set(objects[cls].__dict__) == set(cls.model_fields)


def test_text_chunk_fields_are_in_the_sdk_models_order():
    # model_dump_json writes __dict__ order: it must match the models' declaration order
    built = text_chunk("m", "x")
    for obj in (built, built.delta, built.delta.message):
        assert list(obj.__dict__) == list(type(obj).model_fields)
