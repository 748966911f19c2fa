"""The model schema Dify reads (features, properties, parameter rules), from Settings.

`auto` capabilities resolve from what validation detected (`_detected_*` credential keys), else
a default; explicit on/off always wins.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    # Importing the SDK trips pydantic deprecation warnings inside it (pytest runs with -W error).
    warnings.simplefilter("ignore")
    from dify_plugin.entities.model import FetchFrom, ModelFeature, ModelPropertyKey, ModelType, ParameterType
    from dify_plugin.interfaces.model.large_language_model import STRUCTURED_RESPONSE_FORMATS

    from oai_bridge.chat.schema import llm_schema
    from oai_bridge.embeddings.schema import embedding_schema
from oai_bridge.config.settings import Settings, parse_settings

TOOL_FEATURES = {ModelFeature.TOOL_CALL, ModelFeature.MULTI_TOOL_CALL, ModelFeature.STREAM_TOOL_CALL}
FEATURE_OF = {
    "tool_calling": ModelFeature.TOOL_CALL,
    "vision": ModelFeature.VISION,
    "structured_output": ModelFeature.STRUCTURED_OUTPUT,
    "thinking": ModelFeature.AGENT_THOUGHT,
}
AUTO_DEFAULTS = {"tool_calling": True, "vision": False, "structured_output": False, "thinking": True}


def settings(**form: Any) -> Settings:
    return parse_settings("my-model", {"base_url": "http://localhost:8000/v1", **form})


def features(**form: Any) -> set[ModelFeature]:
    return set(llm_schema(settings(**form)).features or [])


def rule(name: str, **form: Any) -> Any:
    (found,) = [r for r in llm_schema(settings(**form)).parameter_rules if r.name == name]
    return found


# --- features ----------------------------------------------------------------------------------


def test_default_features() -> None:
    # auto without detection: tool calling and thinking on, vision and structured output off.
    assert features() == TOOL_FEATURES | {ModelFeature.AGENT_THOUGHT}


@pytest.mark.parametrize("name", list(FEATURE_OF))
def test_on_turns_the_feature_on(name: str) -> None:
    assert FEATURE_OF[name] in features(**{name: "on"})
    assert settings(**{name: "on"}).capability(name) is True


@pytest.mark.parametrize("name", list(FEATURE_OF))
def test_off_turns_the_feature_off(name: str) -> None:
    assert FEATURE_OF[name] not in features(**{name: "off"})
    assert settings(**{name: "off"}).capability(name) is False


@pytest.mark.parametrize("name", list(FEATURE_OF))
def test_auto_without_detection_uses_the_default(name: str) -> None:
    assert settings(**{name: "auto"}).capability(name) is AUTO_DEFAULTS[name]
    assert (FEATURE_OF[name] in features(**{name: "auto"})) is AUTO_DEFAULTS[name]


@pytest.mark.parametrize("name", list(FEATURE_OF))
@pytest.mark.parametrize("detected", [True, "true"])
def test_auto_follows_a_positive_detection(name: str, detected: Any) -> None:
    assert FEATURE_OF[name] in features(**{name: "auto", f"_detected_{name}": detected})


@pytest.mark.parametrize("name", list(FEATURE_OF))
@pytest.mark.parametrize("detected", [False, "false"])
def test_auto_follows_a_negative_detection(name: str, detected: Any) -> None:
    assert FEATURE_OF[name] not in features(**{name: "auto", f"_detected_{name}": detected})


@pytest.mark.parametrize("name", list(FEATURE_OF))
def test_explicit_setting_beats_detection(name: str) -> None:
    assert FEATURE_OF[name] not in features(**{name: "off", f"_detected_{name}": "true"})
    assert FEATURE_OF[name] in features(**{name: "on", f"_detected_{name}": "false"})


@pytest.mark.parametrize("name", list(FEATURE_OF))
@pytest.mark.parametrize("detected", ["", "unknown", None, 1])
def test_unusable_detection_falls_back_to_the_default(name: str, detected: Any) -> None:
    assert settings(**{f"_detected_{name}": detected}).capability(name) is AUTO_DEFAULTS[name]


def test_tool_calling_brings_all_three_tool_features() -> None:
    assert features(tool_calling="on") >= TOOL_FEATURES
    assert not TOOL_FEATURES & features(tool_calling="off")


def test_all_off_means_no_features() -> None:
    assert features(tool_calling="off", vision="off", structured_output="off", thinking="off") == set()


# --- properties --------------------------------------------------------------------------------


def test_llm_schema_identity() -> None:
    schema = llm_schema(settings())
    assert schema.model == "my-model"
    assert schema.label.en_us == "my-model"
    assert schema.model_type == ModelType.LLM
    assert schema.fetch_from == FetchFrom.CUSTOMIZABLE_MODEL


@pytest.mark.parametrize("mode", ["chat", "completion"])
def test_mode_property_follows_the_form(mode: str) -> None:
    # Workflows fail with "model.mode Field required" without it (LM Studio reports).
    assert llm_schema(settings(mode=mode)).model_properties[ModelPropertyKey.MODE] == mode


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({}, 4096),
        ({"context_size": "8192"}, 8192),
        ({"_detected_context_size": "32768"}, 32768),
        ({"_detected_context_size": 131072}, 131072),
        ({"context_size": "8192", "_detected_context_size": "32768"}, 8192),
        ({"_detected_context_size": "not a number"}, 4096),
        ({"_detected_context_size": ""}, 4096),
        ({"_detected_context_size": None}, 4096),
    ],
)
def test_context_size_is_form_then_detected_then_4096(form: dict[str, Any], expected: int) -> None:
    s = settings(**form)
    assert s.effective_context_size == expected
    assert llm_schema(s).model_properties[ModelPropertyKey.CONTEXT_SIZE] == expected
    assert embedding_schema(s).model_properties[ModelPropertyKey.CONTEXT_SIZE] == expected


# --- parameter rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "maximum"),
    [
        ({}, 4096),
        ({"context_size": "32768"}, 32768),
        ({"_detected_context_size": "16384"}, 16384),
        ({"context_size": "32768", "max_tokens": "2048"}, 2048),
        ({"max_tokens": "100000"}, 100000),
    ],
)
def test_max_tokens_maximum_is_form_max_tokens_else_context_size(form: dict[str, Any], maximum: int) -> None:
    max_tokens = rule("max_tokens", **form)
    assert max_tokens.max == maximum
    assert max_tokens.min == 1
    assert max_tokens.type == ParameterType.INT
    assert max_tokens.default <= max_tokens.max


def test_max_tokens_default_never_exceeds_a_small_maximum() -> None:
    assert rule("max_tokens", max_tokens="256").default == 256
    assert rule("max_tokens").default == 512


def test_response_format_options_are_exactly_the_lower_case_openai_values() -> None:
    response_format = rule("response_format")
    assert response_format.options == ["text", "json_object", "json_schema"]
    assert response_format.type == ParameterType.STRING
    # The SDK rewrites prompts into a code-block mode for "JSON"/"XML": none of ours may match.
    assert not set(response_format.options) & set(STRUCTURED_RESPONSE_FORMATS)


def test_json_schema_parameter_is_text() -> None:
    assert rule("json_schema").type == ParameterType.TEXT


STANDARD_RULES = [
    "temperature",
    "top_p",
    "top_k",
    "presence_penalty",
    "frequency_penalty",
    "max_tokens",
    "seed",
    "response_format",
    "json_schema",
]
# The official OpenAI-compatible plugin's names, so apps exported from it keep their choice.
THINKING_RULES = ["enable_thinking", "reasoning_effort"]


@pytest.mark.parametrize("thinking", ["auto", "on"])
def test_parameter_rules_are_the_standard_set_and_the_per_app_thinking_choice(thinking: str) -> None:
    names = [r.name for r in llm_schema(settings(thinking=thinking)).parameter_rules]
    assert names == STANDARD_RULES + THINKING_RULES
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("form", [{"thinking": "off"}, {"mode": "completion"}])
def test_no_thinking_choice_where_there_is_nothing_to_switch(form: dict[str, str]) -> None:
    names = [r.name for r in llm_schema(settings(**form)).parameter_rules]
    assert names == STANDARD_RULES


def test_the_thinking_choice_is_unset_by_default_and_offers_the_levels_servers_take() -> None:
    toggle, effort = rule("enable_thinking"), rule("reasoning_effort")
    assert (toggle.type, toggle.default, toggle.required) == (ParameterType.BOOLEAN, None, False)
    assert (effort.type, effort.default, effort.required) == (ParameterType.STRING, None, False)
    assert {"low", "medium", "high", "none", "minimal"} <= set(effort.options)
    assert (toggle.label.en_us, toggle.label.zh_hans) == ("Thinking mode", "思考模式")
    assert effort.label.en_us == "Reasoning effort"
    for found in (toggle, effort):
        for text in (found.label, found.help):
            assert all((text.en_us, text.zh_hans, text.ja_jp, text.pt_br))
            assert len({text.zh_hans, text.ja_jp, text.pt_br}) == 3  # translated, not copied


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [("temperature", 0, 2), ("top_p", 0, 1), ("presence_penalty", -2, 2), ("frequency_penalty", -2, 2)],
)
def test_sampling_ranges_match_openai(name: str, low: float, high: float) -> None:
    found = rule(name)
    assert (found.min, found.max) == (low, high)


# --- embedding schema --------------------------------------------------------------------------

# The daemon kills a plugin whose stdout line exceeds 5 MiB (dify-runtime.md); one call's vectors
# travel back in one line at up to ~24 bytes per float as JSON.
DAEMON_LINE_LIMIT = 5 * 1024 * 1024
BYTES_PER_FLOAT = 24


def max_chunks(**form: Any) -> int:
    return embedding_schema(settings(**form)).model_properties[ModelPropertyKey.MAX_CHUNKS]


def test_embedding_schema_identity() -> None:
    schema = embedding_schema(settings())
    assert schema.model == "my-model"
    assert schema.model_type == ModelType.TEXT_EMBEDDING
    assert schema.fetch_from == FetchFrom.CUSTOMIZABLE_MODEL
    assert schema.parameter_rules == []


def test_embedding_max_chunks_default_is_32() -> None:
    assert max_chunks() == 32


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"dimensions": "256", "max_chunks": "8"}, 32),  # four server batches of 8
        ({"dimensions": "256"}, 128),  # four server batches of 32
        ({"_detected_dimensions": "1024", "max_chunks": "16"}, 64),
        ({"dimensions": "384", "max_chunks": "1"}, 4),
    ],
)
def test_embedding_max_chunks_follows_the_form_batch_size(form: dict[str, Any], expected: int) -> None:
    assert max_chunks(**form) == expected


@pytest.mark.parametrize("dims", [256, 768, 1024, 3072, 4096, 8192])
@pytest.mark.parametrize("batch", [1, 8, 32, 256, 2048])
def test_one_calls_vectors_stay_below_the_daemon_line_limit(dims: int, batch: int) -> None:
    texts = max_chunks(dimensions=str(dims), max_chunks=str(batch))
    assert texts >= 1
    assert texts * dims * BYTES_PER_FLOAT < DAEMON_LINE_LIMIT


def test_unknown_dimensions_are_assumed_large() -> None:
    # Without a known vector size the budget must hold for big models (4096 dims) too.
    assert max_chunks(max_chunks="2048") * 4096 * BYTES_PER_FLOAT < DAEMON_LINE_LIMIT
    assert max_chunks(max_chunks="2048", _detected_dimensions="not a number") == max_chunks(max_chunks="2048")


def test_huge_vectors_still_allow_one_text_per_call() -> None:
    assert max_chunks(dimensions="1000000") == 1


def test_every_parameter_label_and_help_is_in_the_four_languages():
    from oai_bridge.chat.schema import llm_schema
    from oai_bridge.config.settings import parse_settings

    rules = llm_schema(parse_settings("m", {"base_url": "http://x/v1"})).parameter_rules
    texts = [rule.label for rule in rules] + [rule.help for rule in rules if rule.help]
    assert len(texts) > len(rules)
    for text in texts:
        values = [text.en_us, text.zh_hans, text.ja_jp, text.pt_br]
        assert all(values), text
