"""parse_settings: Dify's credentials form (strings) -> typed Settings, or a SettingsError naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from oai_bridge.config.settings import (
    DEFAULT_CONTEXT_SIZE,
    DEFAULT_EMBEDDING_BATCH,
    Settings,
    SettingsError,
    parse_settings,
)

BASE = "http://host.docker.internal:8000/v1"
KEY = "sk-canary-3f9a7c1e5b2d"
HEADER_SECRET = "hdr-canary-8e1f2a9b"


def parse(**form: Any) -> Settings:
    return parse_settings("my-model", {"base_url": BASE, **form})


# --- defaults and every field --------------------------------------------------------------------


def test_empty_form_gives_the_form_defaults() -> None:
    s = parse()
    assert s.model == "my-model"
    assert s.base_url == BASE
    assert s.api_key is None
    assert s.endpoint_model == "my-model"
    assert s.mode == "chat"
    assert s.context_size is None
    assert s.max_tokens is None
    assert (s.tool_calling, s.vision, s.structured_output, s.thinking) == ("auto", "auto", "auto", "auto")
    assert s.timeout == 300.0
    assert s.max_retries == 2
    assert s.extra_headers == ()
    assert dict(s.extra_body) == {}
    assert s.verify_tls is True
    assert s.max_chunks == DEFAULT_EMBEDDING_BATCH == 32
    assert s.dimensions is None
    assert s.query_prefix == ""
    assert s.document_prefix == ""
    assert not s.detected
    assert (s.score_scale, s.multimodal_input) == ("auto", "auto")
    assert DEFAULT_CONTEXT_SIZE == 4096


def test_empty_strings_mean_defaults_like_missing_keys() -> None:
    # Dify sends every form field, optional ones as "" when left empty.
    form = {
        "api_key": "",
        "endpoint_model_name": "",
        "mode": "",
        "context_size": "",
        "max_tokens": "",
        "tool_calling": "",
        "vision": "",
        "structured_output": "",
        "thinking": "",
        "timeout": "",
        "max_retries": "",
        "extra_headers": "",
        "extra_body": "",
        "verify_tls": "",
        "max_chunks": "",
        "dimensions": "",
        "query_prefix": "",
        "document_prefix": "",
    }
    assert parse(**form) == parse()


def test_none_values_mean_defaults() -> None:
    assert parse(api_key=None, context_size=None, extra_body=None, extra_headers=None, timeout=None) == parse()


def test_every_field_is_parsed() -> None:
    s = parse(
        api_key=f"  {KEY}  ",
        endpoint_model_name=" Qwen/Qwen2.5-7B-Instruct ",
        mode="completion",
        context_size="32768",
        max_tokens="8192",
        tool_calling="on",
        vision="off",
        structured_output="on",
        thinking="off",
        timeout="600",
        max_retries="5",
        extra_headers='{"X-Tenant": "acme", "X-Num": 7}',
        extra_body='{"chat_template_kwargs": {"enable_thinking": false}, "top_k": 20}',
        verify_tls="off",
        max_chunks="8",
        dimensions="256",
        query_prefix="query: ",
        document_prefix="passage: ",
    )
    assert s.api_key == KEY
    assert s.endpoint_model == "Qwen/Qwen2.5-7B-Instruct"
    assert s.mode == "completion"
    assert s.context_size == 32768
    assert s.max_tokens == 8192
    assert (s.tool_calling, s.vision, s.structured_output, s.thinking) == ("on", "off", "on", "off")
    assert s.timeout == 600.0
    assert s.max_retries == 5
    assert s.extra_headers == (("X-Tenant", "acme"), ("X-Num", "7"))
    assert dict(s.extra_body) == {"chat_template_kwargs": {"enable_thinking": False}, "top_k": 20}
    assert s.verify_tls is False
    assert s.max_chunks == 8
    assert s.dimensions == 256
    # Prefixes are kept as typed: the trailing space is part of e5-style prefixes.
    assert s.query_prefix == "query: "
    assert s.document_prefix == "passage: "


def test_endpoint_model_falls_back_to_the_model_name() -> None:
    assert parse().endpoint_model == "my-model"
    assert parse(endpoint_model_name="   ").endpoint_model == "my-model"
    assert parse(endpoint_model_name="served-name").endpoint_model == "served-name"


@pytest.mark.parametrize("field", ["context_size", "max_tokens", "max_chunks", "dimensions"])
@pytest.mark.parametrize("raw", ["8192", "8192.0", " 8192 ", 8192, 8192.0])
def test_whole_numbers_accept_integer_and_float_text(field: str, raw: Any) -> None:
    assert getattr(parse(**{field: raw}), field) == 8192


@pytest.mark.parametrize(("raw", "expected"), [("300", 300.0), ("12.5", 12.5), ("90.0", 90.0), (45, 45.0)])
def test_timeout_accepts_numbers(raw: Any, expected: float) -> None:
    assert parse(timeout=raw).timeout == expected


@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("3", 3), ("10", 10), (4, 4)])
def test_max_retries_accepts_zero_to_ten(raw: Any, expected: int) -> None:
    assert parse(max_retries=raw).max_retries == expected


def test_max_retries_accepts_float_text_like_the_other_whole_numbers() -> None:
    # context_size "8192.0" is accepted; the same form handing over "3.0" must not be refused.
    assert parse(max_retries="3.0").max_retries == 3


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("auto", "auto"), ("on", "on"), ("off", "off"), ("ON", "on"), (" Off ", "off"), ("true", "on"), ("false", "off")],
)
def test_tri_states_accept_auto_on_off_and_yaml_booleans(raw: str, expected: str) -> None:
    s = parse(tool_calling=raw, vision=raw, structured_output=raw, thinking=raw)
    assert (s.tool_calling, s.vision, s.structured_output, s.thinking) == (expected,) * 4


def test_tri_state_accepts_real_booleans() -> None:
    s = parse(vision=True, thinking=False)
    assert (s.vision, s.thinking) == ("on", "off")


@pytest.mark.parametrize("raw", ["off", "OFF", "false", "0", "no"])
def test_verify_tls_off_values(raw: str) -> None:
    assert parse(verify_tls=raw).verify_tls is False


@pytest.mark.parametrize("raw", ["on", "ON", "true", "1", "yes"])
def test_verify_tls_on_values(raw: str) -> None:
    assert parse(verify_tls=raw).verify_tls is True


def test_mode_is_case_insensitive() -> None:
    assert parse(mode=" Completion ").mode == "completion"


def test_base_url_is_stripped_and_https_accepted() -> None:
    assert parse_settings("m", {"base_url": "  https://api.example.com/v1  "}).base_url == "https://api.example.com/v1"
    assert parse_settings("m", {"base_url": "HTTP://Host:8080/v1"}).base_url == "HTTP://Host:8080/v1"


def test_json_fields_accept_mappings_as_well_as_text() -> None:
    s = parse(extra_body={"top_k": 20}, extra_headers={"X-A": "b"})
    assert dict(s.extra_body) == {"top_k": 20}
    assert s.extra_headers == (("X-A", "b"),)


def test_detected_keys_land_in_typed_findings() -> None:
    s = parse(
        _detected_context_size="32768",
        _detected_vision="true",
        _detected_tool_calling=False,
        _detected_rerank_path="/x",
    )
    assert s.detected.context_size == 32768
    assert dict(s.detected.features) == {"vision": True, "tool_calling": False}
    assert s.detected.value("rerank_path") == "/x"
    # and back, as Dify's form stores them
    assert s.detected.to_credentials() == {
        "_detected_context_size": "32768",
        "_detected_vision": "true",
        "_detected_tool_calling": "false",
        "_detected_rerank_path": "/x",
    }
    # Detected facts never overwrite form fields.
    assert s.context_size is None
    assert s.vision == "auto"


# --- invalid values ----------------------------------------------------------------------------


def assert_settings_error(form: dict[str, Any], field: str) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        parse_settings("m", form)
    assert f"`{field}`" in str(info.value)
    return info.value


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_missing_base_url_is_refused(raw: Any) -> None:
    assert_settings_error({"base_url": raw}, "base_url")
    assert_settings_error({}, "base_url")


@pytest.mark.parametrize("raw", ["localhost:8000/v1", "host.docker.internal:11434", "ftp://h/v1", "//h/v1"])
def test_base_url_without_http_scheme_is_refused(raw: str) -> None:
    error = assert_settings_error({"base_url": raw}, "base_url")
    assert "http://" in str(error)


@pytest.mark.parametrize("raw", ["foo", "chat-completion", "embedding"])
def test_unknown_mode_is_refused(raw: str) -> None:
    error = assert_settings_error({"base_url": BASE, "mode": raw}, "mode")
    assert raw in str(error)


@pytest.mark.parametrize("field", ["context_size", "max_tokens", "max_chunks", "dimensions"])
@pytest.mark.parametrize("raw", ["-1", "0", "-8192.0", "abc", "12k", "nan"])
def test_whole_numbers_must_be_positive_numbers(field: str, raw: str) -> None:
    assert_settings_error({"base_url": BASE, field: raw}, field)


@pytest.mark.parametrize("field", ["context_size", "max_tokens", "max_chunks", "dimensions"])
@pytest.mark.parametrize("raw", ["inf", "1e999"])
def test_infinite_whole_numbers_raise_settings_error(field: str, raw: str) -> None:
    # int(float("inf")) raises OverflowError, which must not escape as a non-SettingsError.
    assert_settings_error({"base_url": BASE, field: raw}, field)


@pytest.mark.parametrize("raw", ["0", "-5", "soon", "nan"])
def test_timeout_must_be_a_positive_number(raw: str) -> None:
    assert_settings_error({"base_url": BASE, "timeout": raw}, "timeout")


@pytest.mark.parametrize("raw", ["-1", "11", "many", "nan", "inf"])
def test_max_retries_must_be_zero_to_ten(raw: str) -> None:
    assert_settings_error({"base_url": BASE, "max_retries": raw}, "max_retries")


@pytest.mark.parametrize("field", ["tool_calling", "vision", "structured_output", "thinking"])
def test_unknown_tri_state_is_refused(field: str) -> None:
    error = assert_settings_error({"base_url": BASE, field: "maybe"}, field)
    assert "auto, on or off" in str(error)


@pytest.mark.parametrize("raw", ["{not json", "{'single': 'quotes'}", '{"a": 1,}'])
def test_extra_body_with_bad_json_is_refused(raw: str) -> None:
    error = assert_settings_error({"base_url": BASE, "extra_body": raw}, "extra_body")
    assert "JSON object" in str(error)


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "42", "true", "null"])
def test_extra_body_must_be_an_object(raw: str) -> None:
    assert_settings_error({"base_url": BASE, "extra_body": raw}, "extra_body")


@pytest.mark.parametrize(
    "raw",
    [
        f'["Authorization: Bearer {HEADER_SECRET}"]',
        f'"Bearer {HEADER_SECRET}"',
        f'{{"Authorization": "Bearer {HEADER_SECRET}"',  # missing brace: bad JSON
        f"Authorization: Bearer {HEADER_SECRET}",  # not JSON at all
        f'{{"Authorization": ["Bearer {HEADER_SECRET}"]}}',  # value not a string
        f'{{"Authorization": {{"token": "{HEADER_SECRET}"}}}}',
        f'{{"X-Flag": true, "X-Key": "{HEADER_SECRET}"}}',
    ],
)
def test_extra_headers_errors_never_show_header_values(raw: str) -> None:
    error = assert_settings_error({"base_url": BASE, "extra_headers": raw}, "extra_headers")
    assert HEADER_SECRET not in str(error)
    assert HEADER_SECRET not in repr(error)
    # Nothing chained either: Dify ships chained messages to the caller.
    assert error.__cause__ is None
    assert error.__suppress_context__ or error.__context__ is None


def test_extra_headers_must_be_an_object() -> None:
    error = assert_settings_error({"base_url": BASE, "extra_headers": '["X-A"]'}, "extra_headers")
    assert "JSON object" in str(error)


def test_extra_headers_value_error_names_the_header() -> None:
    error = assert_settings_error({"base_url": BASE, "extra_headers": '{"X-Api-Key": null}'}, "extra_headers")
    assert "X-Api-Key" in str(error)


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


# --- secrets -----------------------------------------------------------------------------------


def test_repr_never_shows_the_key_or_header_values() -> None:
    s = parse(api_key=KEY, extra_headers=f'{{"X-Key": "{HEADER_SECRET}"}}', extra_body='{"k": "v"}')
    for text in (repr(s), str(s), f"{s}", f"{s!r}"):
        assert KEY not in text
        assert HEADER_SECRET not in text
        assert "my-model" in text


def test_secrets_hold_the_key_and_every_header_value() -> None:
    s = parse(api_key=KEY, extra_headers=f'{{"X-Key": "{HEADER_SECRET}", "X-Org": "org-42"}}')
    assert set(s.secrets) == {KEY, HEADER_SECRET, "org-42"}


def test_secrets_skip_empty_values() -> None:
    assert parse().secrets == ()
    assert parse(extra_headers='{"X-Empty": ""}').secrets == ()


def test_settings_are_frozen() -> None:
    s = parse()
    with pytest.raises(AttributeError):
        s.api_key = "changed"  # type: ignore[misc]


def test_a_password_in_the_base_url_is_a_secret():
    from oai_bridge.config.urls import display_url
    from oai_bridge.errors.invoke import redact

    settings = parse_settings("m", {"base_url": "https://bob:hunter2-secret@proxy.example/v1"})
    assert "hunter2-secret" in settings.secrets
    assert "hunter2-secret" not in redact(f"cannot reach {settings.base_url}", settings.secrets)
    assert display_url(settings.base_url) == "https://proxy.example/v1"
    assert display_url("http://host:8000/v1") == "http://host:8000/v1"
