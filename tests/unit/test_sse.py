"""iter_sse_data: WHATWG event-stream rules plus the quirks of real OpenAI-compatible servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from oai_bridge.errors.kinds import SSEError
from oai_bridge.transport.sse import iter_lines, iter_sse_data


def lines_of(body: str) -> list[str]:
    """Split a raw body the way httpx's `iter_lines()` does (CR, LF and CRLF removed)."""
    return body.splitlines()


def events(body: str) -> list[str]:
    return list(iter_sse_data(lines_of(body)))


def test_yields_one_item_per_event_in_order() -> None:
    assert events('data: {"a":1}\n\ndata: {"a":2}\n\n') == ['{"a":1}', '{"a":2}']


def test_crlf_and_cr_line_endings_are_equivalent_to_lf() -> None:
    body = 'data: {"a":1}\r\n\r\ndata: {"a":2}\r\rdata: [DONE]\r\n\r\n'
    assert events(body) == ['{"a":1}', '{"a":2}']


def test_each_event_is_yielded_at_its_blank_line_without_look_ahead() -> None:
    source = iter(["data: one", "", "data: two", ""])
    stream = iter_sse_data(source)
    assert next(stream) == "one"
    assert next(source) == "data: two"  # the second event was not read ahead


@pytest.mark.parametrize(
    "comment",
    [
        ": OPENROUTER PROCESSING",  # OpenRouter, while the upstream model is queued
        ": keep-alive",  # DeepSeek while queued; vLLM `sse_keep_alive`
        ":",  # llama.cpp pings since ggml-org/llama.cpp#24013
        ": ping - 2025-01-01 00:00:00.000000",  # sse-starlette (Xinference)
    ],
)
def test_comment_lines_are_skipped(comment: str) -> None:
    assert events(f"{comment}\n\ndata: x\n\n{comment}\n\ndata: y\n\n") == ["x", "y"]


def test_blank_line_noise_is_skipped() -> None:
    assert events("\n\n\ndata: x\n\n\n\n\ndata: y\n\n\n") == ["x", "y"]


def test_data_without_a_space_after_the_colon() -> None:
    assert events('data:{"a":1}\n\n') == ['{"a":1}']


def test_only_one_leading_space_is_stripped() -> None:
    assert events("data:  two spaces\n\n") == [" two spaces"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert events('data: {"a":\ndata: 1}\n\n') == ['{"a":\n1}']


def test_id_retry_and_unknown_fields_are_ignored() -> None:
    body = "id: 7\nretry: 1000\nfoo: bar\nevent: message\ndata: x\n\n"
    assert events(body) == ["x"]


def test_event_field_without_error_does_not_change_data() -> None:
    assert events("event: completion\ndata: x\n\n") == ["x"]


def test_event_type_resets_after_dispatch() -> None:
    # The spec resets the event type at every dispatch, so a later event is not an error.
    assert events("event: ping\ndata: a\n\ndata: b\n\n") == ["a", "b"]


def test_event_error_raises_with_its_data() -> None:
    body = 'data: {"a":1}\n\nevent: error\ndata: {"error":{"message":"boom"}}\n\n'
    stream = iter_sse_data(lines_of(body))
    assert next(stream) == '{"a":1}'
    with pytest.raises(SSEError) as info:
        next(stream)
    assert info.value.data == '{"error":{"message":"boom"}}'


def test_event_error_without_data_still_raises() -> None:
    with pytest.raises(SSEError) as info:
        events("event: error\n\n")
    assert info.value.data == ""


def test_event_error_at_end_of_body_without_blank_line_raises() -> None:
    with pytest.raises(SSEError, match="overloaded"):
        events("event: error\ndata: overloaded")


def test_event_error_with_done_data_is_still_an_error() -> None:
    with pytest.raises(SSEError):
        events("event: error\ndata: [DONE]\n\n")


def test_legacy_llama_cpp_error_line_raises() -> None:
    # llama.cpp before ggml-org/llama.cpp#16109 sent a non-standard `error:` field; spec
    # parsers drop it and the stream just ended (openai-go: "unexpected end of JSON input").
    payload = (
        '{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}'
    )
    body = f'data: {{"choices":[]}}\n\nerror: {payload}\n\n'
    stream = iter_sse_data(lines_of(body))
    assert next(stream) == '{"choices":[]}'
    with pytest.raises(SSEError) as info:
        next(stream)
    assert info.value.data == payload
    assert str(info.value) == payload


def test_missing_final_blank_line_still_yields_the_last_event() -> None:
    assert events('data: {"a":1}\n\ndata: {"a":2}') == ['{"a":1}', '{"a":2}']


def test_done_is_optional() -> None:
    # Xinference and Ollama end an errored stream without `[DONE]`.
    assert events('data: {"a":1}\n\n') == ['{"a":1}']


def test_done_stops_without_reading_further() -> None:
    def source() -> Iterator[str]:
        yield 'data: {"a":1}'
        yield ""
        yield "data: [DONE]"
        raise AssertionError("read past [DONE]")

    assert list(iter_sse_data(source())) == ['{"a":1}']


@pytest.mark.parametrize("line", ["data: [DONE]", "data:[DONE]", "data:  [DONE] "])
def test_done_spellings(line: str) -> None:
    assert events(f"data: x\n\n{line}\n\ndata: never\n\n") == ["x"]


def test_done_inside_json_is_ordinary_data() -> None:
    assert events('data: {"text":"[DONE]"}\n\n') == ['{"text":"[DONE]"}']


def test_empty_data_is_not_yielded() -> None:
    assert events("data:\n\ndata: \n\ndata\n\ndata: x\n\n") == ["x"]


def test_leading_byte_order_mark_is_ignored() -> None:
    assert events("\ufeffdata: x\n\n") == ["x"]


def test_empty_body_yields_nothing() -> None:
    assert events("") == []
    assert events("\n\n") == []


def test_plain_json_body_is_yielded_once() -> None:
    # A server answering a stream request with a whole JSON error body.
    assert events('{"error": {"message": "bad", "code": 400}}') == ['{"error": {"message": "bad", "code": 400}}']


def test_pretty_printed_json_body_after_blank_lines_is_yielded_once() -> None:
    # DeepSeek sends blank lines ahead of a non-streamed JSON body (rate-limit docs).
    body = '\n\n\n{\n  "error": {\n    "message": "Rate limit reached",\n    "type": "rate_limit"\n  }\n}\n'
    (item,) = events(body)
    assert item == '{\n  "error": {\n    "message": "Rate limit reached",\n    "type": "rate_limit"\n  }\n}'


def test_keep_alives_before_a_stream_do_not_make_it_a_json_body() -> None:
    assert events(': keep-alive\n\ndata: {"a":1}\n\n') == ['{"a":1}']


# --- WHATWG HTML spec examples (§9.2.6 "Interpreting an event stream") ----------------------


def test_whatwg_example_comment_id_and_space_handling() -> None:
    body = ": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"
    assert events(body) == ["first event", "second event", " third event"]


def test_whatwg_example_empty_and_newline_data() -> None:
    # The spec fires "" for the first block (not yielded here: empty data is skipped) and "\n"
    # for the middle one; it discards the unterminated last block, which is empty anyway.
    assert events("data\n\ndata\ndata\n\ndata:") == ["\n"]


def test_whatwg_example_space_after_colon_is_optional() -> None:
    assert events("data:test\n\ndata: test\n\n") == ["test", "test"]


def test_whatwg_example_multi_line_data() -> None:
    assert events("data: YHOO\ndata: +2\ndata: 10\n\n") == ["YHOO\n+2\n10"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c"])
def test_iter_lines_splits_only_at_cr_lf_crlf(separator):
    # str.splitlines() (httpx's iter_lines) also splits at these, which JSON allows raw in strings
    text = f'data: {{"content":"a{separator}b"}}\r\n\r\ndata: x\rdata: y\n'
    assert list(iter_lines([text])) == [f'data: {{"content":"a{separator}b"}}', "", "data: x", "data: y"]


def test_iter_lines_joins_a_crlf_split_across_chunks_and_flushes_the_tail():
    assert list(iter_lines(["data: a\r", "\ndata: b\r", "\r\n", "tail"])) == ["data: a", "data: b", "", "tail"]
    assert list(iter_lines(["a\r"])) == ["a"]
    assert list(iter_lines(["", "a", "", "b\n"])) == ["ab"]
