"""thinking_choice: the form's Thinking, replaced per call by the app's enable_thinking / reasoning_effort."""

from __future__ import annotations

from typing import Any

import pytest

from oai_bridge.config.settings import Settings, SettingsError, parse_settings
from oai_bridge.config.thinking import EFFORTS, thinking_choice


def form(**values: Any) -> Settings:
    return parse_settings("m", {"base_url": "http://127.0.0.1:8000/v1", **values})


@pytest.mark.parametrize("thinking", ["auto", "on", "off"])
def test_unset_parameters_mean_the_form_value(thinking: str) -> None:
    settings = form(thinking=thinking)
    choice = thinking_choice(settings, {"temperature": 0.2})
    assert choice.mode == thinking
    assert choice.effort is None
    assert choice.show_reasoning == settings.capability("thinking")


def test_per_call_off_on_a_model_saved_on_reads_nothing_as_reasoning() -> None:
    choice = thinking_choice(form(thinking="on"), {"enable_thinking": False})
    assert (choice.mode, choice.show_reasoning, choice.start_in_reasoning) == ("off", False, False)


def test_per_call_on_on_an_auto_model_shows_reasoning_even_where_detection_saw_none() -> None:
    settings = form(thinking="auto", _detected_thinking="false", _detected_think_in_prompt="false")
    assert thinking_choice(settings).show_reasoning is False
    choice = thinking_choice(settings, {"enable_thinking": True})
    assert (choice.mode, choice.show_reasoning, choice.start_in_reasoning) == ("on", True, False)


def test_per_call_on_reads_the_start_as_reasoning_only_where_the_template_opens_the_tag() -> None:
    assert thinking_choice(form(_detected_think_in_prompt="true"), {"enable_thinking": True}).start_in_reasoning
    assert not thinking_choice(form(_detected_think_in_prompt="false"), {"enable_thinking": True}).start_in_reasoning
    # Unknown: the form's On is the user's word that the model always thinks; an app's On is not.
    assert thinking_choice(form(thinking="on")).start_in_reasoning
    assert thinking_choice(form(thinking="on"), {"enable_thinking": True}).start_in_reasoning
    assert not thinking_choice(form(thinking="auto"), {"enable_thinking": True}).start_in_reasoning


def test_an_effort_is_kept_beside_the_mode_and_none_alone_means_off() -> None:
    assert thinking_choice(form(thinking="on"), {"reasoning_effort": "high"}).effort == "high"
    assert thinking_choice(form(), {"reasoning_effort": "low"}).mode == "auto"
    off = thinking_choice(form(thinking="on"), {"reasoning_effort": "none"})
    assert (off.mode, off.effort, off.show_reasoning) == ("off", "none", False)


def test_an_explicit_off_wins_over_an_effort_which_is_then_not_sent() -> None:
    choice = thinking_choice(form(), {"enable_thinking": False, "reasoning_effort": "high"})
    assert (choice.mode, choice.effort) == ("off", None)


def test_values_arrive_as_dify_or_an_export_writes_them() -> None:
    assert thinking_choice(form(), {"enable_thinking": "false"}).mode == "off"
    assert thinking_choice(form(), {"reasoning_effort": " HIGH "}).effort == "high"
    assert set(EFFORTS) >= {"none", "minimal", "low", "medium", "high"}


@pytest.mark.parametrize(
    ("params", "named"),
    [({"enable_thinking": "maybe"}, "enable_thinking"), ({"reasoning_effort": "max"}, "reasoning_effort")],
)
def test_bad_values_are_refused_naming_the_parameter(params: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError, match=named):  # Dify shows "Model settings: ..."
        thinking_choice(form(), params)
