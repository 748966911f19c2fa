"""Properties of the whole stream path on raw bytes, decoded the way the plugin reads a response.

The plugin reads a stream as `response.iter_text()` (httpx decodes the body bytes with its
`TextDecoder`) and hands the text to `oai_bridge.chat.pipeline.read_events`, inside
`oai_bridge.errors.invoke.translated_errors`. These tests run that production chain on bytes cut at
arbitrary points:

* a valid stream (generated from a small model of what servers send: reasoning in either field or inline
  `<think>` tags, content, tool calls whose argument fragments interleave by index, usage, a finish
  reason), rendered with any framing real servers use (LF, CRLF or CR, comments, `data:` without a
  space, multi-line data, ignored fields, optional `[DONE]`), must always give the same text, tool calls,
  usage and finish reason, equal to a reference computed from the model;
* any input at all (random bytes, truncated or non-object JSON, random chunk-shaped dicts, error events)
  either succeeds or raises an `InvokeError`, never anything else, and never hangs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise

import pytest
from dify_plugin.errors.model import InvokeError
from httpx._decoders import TextDecoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oai_bridge.chat.events import StreamEnd, Usage
from oai_bridge.chat.pipeline import chat_reader, read_events
from oai_bridge.chat.toolcalls import ToolCall
from oai_bridge.config.settings import parse_settings
from oai_bridge.config.thinking import thinking_choice
from oai_bridge.errors.invoke import translated_errors

pytestmark = pytest.mark.timeout(120)

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the plugin's reading chain ------------------------------------------------------------
PLUGIN_SETTINGS = parse_settings("m", {"base_url": "http://localhost:8000/v1"})


def httpx_texts(pieces: list[bytes]) -> list[str]:
    """What `httpx.Response.iter_text()` yields when the body arrives in `pieces`: its incremental
    UTF-8 decoding, which drops empty decoded text."""
    text_decoder = TextDecoder(encoding="utf-8")

    def texts() -> Iterator[str]:
        for piece in pieces:
            text = text_decoder.decode(piece)
            if text:
                yield text
        text = text_decoder.flush()
        if text:
            yield text

    return list(texts())


def run_plugin_chain(pieces: list[bytes]) -> tuple[str, StreamEnd]:
    """The production reading chain; returns the Dify-visible text and the end."""
    with translated_errors():
        out = list(read_events(httpx_texts(pieces), chat_reader(PLUGIN_SETTINGS, thinking_choice(PLUGIN_SETTINGS)))[1])
    end = out.pop()
    assert isinstance(end, StreamEnd)
    assert all(type(piece) is str for piece in out)
    return "".join(out) + end.text, end


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = sorted({p % (len(data) + 1) for p in points})
    edges = [0, *bounds, len(data)]
    return [data[a:b] for a, b in pairwise(edges) if b > a]


# -- a model of valid streams ----------------------------------------------------------------
@dataclass
class Tool:
    index: int
    id: str | None
    name: str
    arguments: str
    fragments: list[str]


@dataclass
class Stream:
    """What a server means to say; `events` is how it says it (chunk payloads, in order)."""

    reasoning: str
    answer: str
    tools: list[Tool]
    usage: tuple[int, int] | None
    finish_reason: str
    events: list[dict] = field(default_factory=list)


def think(reasoning: str, answer: str) -> str:
    """Reference rendering: Dify's `<think>\\n{reasoning}\\n</think>{answer}`, one newline before the
    close tag even when the reasoning ends with one; no block at all without reasoning."""
    if not reasoning:
        return answer
    return f"<think>\n{reasoning}{'' if reasoning.endswith(chr(10)) else chr(10)}</think>{answer}"


# Text as models produce it: words, punctuation, whitespace, tag-like characters, non-ASCII (2-, 3- and
# 4-byte UTF-8, so byte cuts land inside characters). Unicode line separators are left to their own test.
LINE_SEPARATORS = "\x85\u2028\u2029"
_ALPHABET = st.characters(
    codec="utf-8",
    exclude_categories=("Cs",),
    exclude_characters=LINE_SEPARATORS,
)
_SPECIAL_TEXT = st.sampled_from(
    [" ", "\n", "\n\n", "\t", "\r\n", "<", ">", "</", "<think", "</thi", "think>", "é", "巴黎", "😀", '"', "\\", "{"]
)
text_piece = st.one_of(st.text(_ALPHABET, max_size=6), _SPECIAL_TEXT)
CLOSE = "</think>"


def split_text(draw, text: str) -> list[str]:
    points = draw(st.lists(st.integers(0, len(text)), max_size=6))
    bounds = sorted(set(points))
    edges = [0, *bounds, len(text)]
    return [text[a:b] for a, b in pairwise(edges)]


def chunk(delta: dict | None = None, finish: str | None = None, **top: object) -> dict:
    payload: dict = {"id": "chatcmpl-p", "object": "chat.completion.chunk", "created": 1761900000, "model": "m"}
    payload["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    payload.update(top)
    return payload


@st.composite
def tools_strategy(draw) -> list[Tool]:
    tools = []
    for index in range(draw(st.integers(0, 3))):
        arguments = json.dumps(
            draw(
                st.dictionaries(
                    st.text(_ALPHABET, max_size=5),
                    st.one_of(st.none(), st.booleans(), st.integers(), st.text(_ALPHABET, max_size=8)),
                    max_size=3,
                )
            ),
            ensure_ascii=draw(st.booleans()),
        )
        call_id = draw(st.one_of(st.none(), st.from_regex(r"call_[A-Za-z0-9]{9}", fullmatch=True)))
        name = draw(st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True))
        tools.append(Tool(index, call_id, name, arguments, split_text(draw, arguments)))
    return tools


@st.composite
def valid_streams(draw, *, text=text_piece) -> Stream:
    mode = draw(st.sampled_from(["none", "reasoning_content", "reasoning", "inline"]))
    content_pieces = draw(st.lists(text, max_size=8))
    answer = "".join(content_pieces)
    # A stray `</think>` in the answer is dropped and a leading `<think>` opens reasoning (think.py rules);
    # those are the splitter's own tests. Here the answer is plain text.
    if CLOSE in answer or answer.lstrip().startswith("<think>"):
        answer, content_pieces = answer.replace("<", "["), [p.replace("<", "[") for p in content_pieces]
    events: list[dict] = []
    if draw(st.booleans()):
        events.append(chunk({"role": "assistant", "content": ""}))

    reasoning = ""
    if mode in ("reasoning_content", "reasoning"):
        pieces = draw(st.lists(text, min_size=1, max_size=6))
        reasoning = "".join(pieces)
        extra = {"content": None} if draw(st.booleans()) else {}
        events += [chunk({mode: piece, **extra}) for piece in pieces]
        if content_pieces and draw(st.booleans()):  # the switch-over chunk carries both fields
            last = events.pop()
            last["choices"][0]["delta"]["content"] = content_pieces[0]
            events.append(last)
            content_pieces = content_pieces[1:]
        events += [chunk({"content": piece}) for piece in content_pieces]
        visible_answer = answer
    elif mode == "inline":
        # vLLM without a reasoning parser, llama.cpp --reasoning-format none, Groq raw: tags in content.
        # Whitespace right after either tag is dropped; whitespace before `<think>` too (think.py).
        lead = draw(st.sampled_from(["", "\n", "  ", "\n\n"]))
        inner = "".join(draw(st.lists(text, max_size=6)))
        while CLOSE in inner:  # removing one can form another ("</thi</think>nk>")
            inner = inner.replace(CLOSE, "")
        whole = f"{lead}<think>{inner}{CLOSE}{answer}"
        events += [chunk({"content": piece}) for piece in split_text(draw, whole)]
        reasoning, visible_answer = inner.lstrip(), answer.lstrip()
    else:
        events += [chunk({"content": piece}) for piece in content_pieces]
        visible_answer = answer

    tools = draw(tools_strategy())
    # Fragments of different calls interleave by index; the first fragment of a call carries id, type, name.
    order = draw(st.permutations([t.index for t in tools for _ in t.fragments]))
    started: set[int] = set()
    cursor = {t.index: 0 for t in tools}
    fragments = []
    for index in order:
        tool = tools[index]
        fragment: dict = {"index": index, "function": {"arguments": tool.fragments[cursor[index]]}}
        cursor[index] += 1
        if index not in started:
            started.add(index)
            fragment["type"] = "function"
            fragment["function"]["name"] = tool.name
            if tool.id is not None:
                fragment["id"] = tool.id
        fragments.append(fragment)
    while fragments:
        size = draw(st.integers(1, 3))  # a delta may carry fragments of several calls at once
        events.append(chunk({"tool_calls": fragments[:size]}))
        fragments = fragments[size:]

    if tools:
        finish = draw(st.sampled_from(["tool_calls", "stop", "length"]))  # vLLM: `stop` for named tool_choice
    else:
        finish = draw(st.sampled_from(["stop", "length", "content_filter", "eos_token"]))
    usage = draw(st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.integers(0, 10**6))))
    place = draw(st.sampled_from(["empty-choices", "finish-chunk", "x_groq"]))
    usage_body = None if usage is None else {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
    if usage_body is not None:
        usage_body["total_tokens"] = sum(usage)
    if usage_body is not None and place == "finish-chunk":
        events.append(chunk({}, finish, usage=usage_body))
    elif usage_body is not None and place == "x_groq":
        events.append(chunk({}, finish, x_groq={"id": "req_1", "usage": usage_body}))
    else:
        events.append(chunk({"content": ""} if draw(st.booleans()) else {}, finish))
        if usage_body is not None:
            events.append(chunk(None, usage=usage_body))
    return Stream(
        reasoning=reasoning,
        answer=visible_answer,
        tools=tools,
        usage=usage,
        finish_reason="tool_calls" if tools else finish,
        events=events,
    )


@st.composite
def rendered(draw, stream_strategy=None) -> tuple[Stream, bytes]:
    """A valid stream as SSE bytes, in any framing servers (or the SSE spec) allow."""
    stream = draw(stream_strategy if stream_strategy is not None else valid_streams())
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    data_prefix = draw(st.sampled_from(["data: ", "data:"]))  # MS-Swift: no space (langgenius/dify#12143)
    ensure_ascii = draw(st.booleans())
    separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    comments = [": keep-alive", ":", ": OPENROUTER PROCESSING", ": ping - 2025-10-31 08:40:00.012345+00:00"]
    out: list[str] = []
    if draw(st.booleans()):
        out.append("\ufeff")  # a byte order mark before the first line is allowed by the spec
    for event in [*stream.events, None]:
        if draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from(comments)) + newline + newline)
        if draw(st.integers(0, 6)) == 0:
            out.append(newline)  # stray blank line (DeepSeek)
        if event is None:
            break
        fields = []
        if draw(st.integers(0, 8)) == 0:
            fields.append(draw(st.sampled_from(["id: 7", "retry: 3000", "event: message", "event: completion"])))
        if draw(st.integers(0, 8)) == 0:  # a multi-line data field: joined back with "\n" by the reader
            text = json.dumps(event, ensure_ascii=ensure_ascii, indent=1)
            fields += [data_prefix + line for line in text.split("\n")]
        else:
            fields.append(data_prefix + json.dumps(event, ensure_ascii=ensure_ascii, separators=separators))
        out.append(newline.join(fields) + newline + newline)
    ending = draw(st.sampled_from(["done", "done+junk", "eof", "eof-unterminated"]))
    if ending.startswith("done"):
        out.append(f"{data_prefix}[DONE]{newline}{newline}")
        if ending == "done+junk":  # nothing after [DONE] is read
            out.append(f"data: not json{newline}{newline}error: {{}}{newline}{newline}")
    elif ending == "eof-unterminated":
        out[-1] = out[-1].rstrip(newline)  # lenient: the last event is dispatched at the end of the body
    return stream, "".join(out).encode()


def assert_matches(stream: Stream, text: str, end: StreamEnd) -> None:
    assert text == think(stream.reasoning, stream.answer)
    assert end.finish_reason == stream.finish_reason
    assert end.usage == (None if stream.usage is None else Usage(*stream.usage))
    assert [(c.name, c.arguments) for c in end.tool_calls] == [(t.name, t.arguments) for t in stream.tools]
    for call, tool in zip(end.tool_calls, stream.tools, strict=True):
        if tool.id is None:  # the server sent none: one is generated from the index
            assert re.fullmatch(rf"call_{tool.index}_[0-9a-f]{{8}}", call.id)
        else:
            assert call.id == tool.id


# -- properties: valid streams -------------------------------------------------------------
@SETTINGS
@given(case=rendered(), points=st.lists(st.integers(min_value=0), max_size=12), data=st.data())
def test_any_byte_split_of_a_valid_stream_gives_the_reference_result(case, points, data):
    stream, body = case
    whole_text, whole_end = run_plugin_chain([body])
    assert_matches(stream, whole_text, whole_end)
    split_text_, split_end = run_plugin_chain(cut(body, points))
    assert (split_text_, split_end.finish_reason, split_end.usage) == (
        whole_text,
        whole_end.finish_reason,
        whole_end.usage,
    )
    assert [(c.name, c.arguments) for c in split_end.tool_calls] == [
        (c.name, c.arguments) for c in whole_end.tool_calls
    ]
    # byte by byte: the worst case for every decoder in the chain
    if len(body) < 1500 and data.draw(st.booleans()):
        one_text, one_end = run_plugin_chain([body[i : i + 1] for i in range(len(body))])
        assert one_text == whole_text and one_end.finish_reason == whole_end.finish_reason


# Unicode line separators inside a JSON string are legal JSON and legal SSE: SSE lines end only at CR,
# LF or CRLF (WHATWG event-stream). pydantic (vLLM, SGLang), serde and nlohmann (llama.cpp) write them
# raw; Go escapes U+2028/U+2029 but not U+0085. Python's `str.splitlines()` also breaks on them.
@SETTINGS
@given(
    case=rendered(
        valid_streams(
            text=st.one_of(text_piece, st.sampled_from(["\u2028", "\u2029", "\x85", "a\u2028b", "Paris.\x85"]))
        )
    ),
    points=st.lists(st.integers(min_value=0), max_size=8),
)
def test_unicode_line_separators_inside_json_strings_do_not_break_events(case, points):
    stream, body = case
    text, end = run_plugin_chain(cut(body, points))
    assert_matches(stream, text, end)


# -- properties: arbitrary input -------------------------------------------------------------
KEYS = [
    "choices",
    "delta",
    "message",
    "content",
    "text",
    "reasoning",
    "reasoning_content",
    "tool_calls",
    "function",
    "name",
    "arguments",
    "id",
    "index",
    "finish_reason",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "x_groq",
    "error",
    "object",
    "code",
    "http_status_code",
    "status",
    "type",
]
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["stop", "length", "tool_calls", "error", "abort", "", "[DONE]", "<think>", "</think>"]),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=3)), inner, max_size=4),
    ),
    max_leaves=25,
)
choice_like = st.fixed_dictionaries(
    {},
    optional={
        "delta": st.one_of(json_value, st.dictionaries(st.sampled_from(KEYS), json_value, max_size=4)),
        "message": json_value,
        "finish_reason": json_value,
        "usage": json_value,
        "index": json_value,
    },
)
# Chunk-shaped dicts: mostly the right keys with any values, so that the success path is reached too.
chunk_like = st.fixed_dictionaries(
    {"choices": st.one_of(st.lists(choice_like, max_size=2), json_value)},
    optional={
        "usage": st.one_of(
            json_value, st.fixed_dictionaries({"prompt_tokens": json_value, "completion_tokens": json_value})
        ),
        "x_groq": json_value,
        "object": st.just("chat.completion.chunk"),
    },
)
# Error-shaped dicts, in every envelope servers use and some they don't.
error_like = st.one_of(
    st.fixed_dictionaries({"error": json_value}, optional={"choices": json_value, "object": json_value}),
    st.fixed_dictionaries({"object": st.just("error")}, optional={"message": json_value, "code": json_value}),
)


@st.composite
def sse_payload(draw) -> str:
    """One SSE data payload that is anything but guaranteed valid."""
    kind = draw(st.sampled_from(["chunk", "chunk", "chunk", "error", "value", "truncated", "text"]))
    if kind == "chunk":
        return json.dumps(draw(chunk_like))
    if kind == "error":
        return json.dumps(draw(error_like))
    if kind == "value":  # any JSON, usually not an object
        return json.dumps(draw(json_value))
    if kind == "truncated":
        text = json.dumps(draw(chunk_like))
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    return draw(st.text(max_size=20))


@st.composite
def deeply_nested(draw) -> str:
    """JSON nested around or beyond the recursion limit of `json.loads`."""
    depth = draw(st.sampled_from([10, 500, 5000, 50000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"error":', "}"), ('{"a":', "}")]))
    return opener * depth + ("1" + closer * depth if draw(st.booleans()) else "")


@st.composite
def garbage_body(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "sse", "sse", "mutated", "deep"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "deep":
        field_name = draw(st.sampled_from(["data: ", "error: ", "event: error" + newline + "data: "]))
        return (field_name + draw(deeply_nested()) + newline + newline).encode()
    if kind == "mutated":  # a valid stream with bytes dropped, changed or cut off
        _, body = draw(rendered())
        edits = draw(st.lists(st.tuples(st.integers(min_value=0), st.binary(max_size=3)), min_size=1, max_size=4))
        for position, replacement in edits:
            at = position % (len(body) + 1)
            body = body[:at] + replacement + body[at + draw(st.integers(0, 4)) :]
        return body[: draw(st.integers(0, len(body)))] if draw(st.booleans()) else body
    blocks = []
    for _ in range(draw(st.integers(1, 6))):
        field_name = draw(
            st.sampled_from(
                ["data: ", "data: ", "data: ", "data:", "error: ", "event: error" + newline + "data: ", ": "]
            )
        )
        blocks.append(field_name + draw(sse_payload()) + newline + newline)
    if draw(st.booleans()):
        blocks.append("data: [DONE]" + newline + newline)
    return "".join(blocks).encode()


@SETTINGS
@given(body=garbage_body(), points=st.lists(st.integers(min_value=0), max_size=6))
def test_arbitrary_input_raises_only_invoke_errors(body, points):
    try:
        text, end = run_plugin_chain(cut(body, points))
    except InvokeError:
        return
    # Success means the server said it was finished: strings, then one end with a finish reason.
    assert isinstance(text, str)
    assert end.finish_reason
    assert all(isinstance(c, ToolCall) for c in end.tool_calls)


# -- a few pinned cases (documentation and fast regression guards) ----------------------------
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"error: " + b"[" * 50000 + b"\n\n", id="legacy-error-line-nested-too-deep"),
        pytest.param(b"event: error\ndata: " + b'{"a":' * 5000 + b"\n\n", id="error-event-nested-too-deep"),
        pytest.param(b"data: " + b"[" * 50000 + b"\n\n", id="data-nested-too-deep"),
        pytest.param(b'data: {"choices": [1]}\n\n', id="choice-not-an-object"),
        pytest.param(b'data: {"choices": {"0": {}}}\n\n', id="choices-an-object"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
    ],
)
def test_pinned_malformed_inputs_raise_invoke_errors(body):
    with pytest.raises(InvokeError):
        run_plugin_chain([body])


def test_reference_rendering_has_no_doubled_newline():
    assert think("a\n", "b") == "<think>\na\n</think>b"
    assert think("a", "b") == "<think>\na\n</think>b"
    assert think("", "b") == "b"
