"""The app's thinking choice (enable_thinking / reasoning_effort) through Dify's stdio runtime
against a real llama.cpp llama-server: the fields reach the model's chat template, and the answer
reads right.

The tiny model's own template knows nothing of thinking, so this server gets one that reads the
two variables the way real templates do: Qwen3's ends the generation prompt with an empty
`<think>\\n\\n</think>\\n\\n` when `enable_thinking` is false, gpt-oss's says `Reasoning: <effort>`
in the system turn. llama-server renders it with the request's `chat_template_kwargs` (and its
top-level `reasoning_effort`); the prompt's token count, which it reports, shows what the
template saw."""

from __future__ import annotations

import httpx
import pytest

from tests.support.llama_server import LlamaServer

pytestmark = [pytest.mark.llama, pytest.mark.timeout(600)]

THINKING_TEMPLATE = """\
{%- if reasoning_effort is defined %}<|im_start|>system
Reasoning: {{ reasoning_effort }}<|im_end|>
{% endif -%}
{%- for message in messages %}<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
{% endfor -%}
{%- if add_generation_prompt %}<|im_start|>assistant
{% if enable_thinking is defined and enable_thinking is false %}<think>

</think>

{% endif -%}
{%- endif %}
"""
USER = [{"role": "user", "content": "2+2?"}]
PARAMS = {"max_tokens": 8, "temperature": 0, "seed": 7}


@pytest.fixture(scope="module")
def thinking_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama-thinking")
    template = folder / "thinking.jinja"
    template.write_text(THINKING_TEMPLATE)
    # The last --chat-template-file wins over the peer's default one.
    with LlamaServer.start(log_dir=folder, extra_args=["--chat-template-file", str(template)]) as server:
        yield server


def ask(plugin, server, credentials, parameters, *, stream):
    return plugin.invoke(
        "invoke_llm",
        model="tiny",
        credentials={"base_url": server.base_url, **credentials},
        prompt_messages=USER,
        model_parameters={**PARAMS, **parameters},
        stream=stream,
    ).raise_for_error()


def served_directly(server, **fields):
    """The server's own answer to the same conversation, asked without the plugin."""
    body = {"model": "tiny", "messages": USER, **PARAMS, **fields}
    answer = httpx.post(server.base_url + "/chat/completions", json=body, timeout=120).json()
    return answer["choices"][0]["message"].get("content") or "", answer["usage"]["prompt_tokens"]


@pytest.mark.parametrize("stream", [True, False])
def test_an_apps_off_on_a_model_saved_on_reaches_the_template_and_the_answer_is_plain(plugin, thinking_server, stream):
    saved = {"thinking": "on"}  # as saved, with nothing detected: every form of the switch
    as_saved = ask(plugin, thinking_server, saved, {}, stream=stream)
    off = ask(plugin, thinking_server, saved, {"enable_thinking": False}, stream=stream)
    # The template closed the think block for the app's Off only: a longer prompt
    assert off.usage["prompt_tokens"] > as_saved.usage["prompt_tokens"]
    # ... and the answer is the server's, not wrapped as reasoning (Thinking = On would read it so)
    content, prompt_tokens = served_directly(thinking_server, chat_template_kwargs={"enable_thinking": False})
    assert off.usage["prompt_tokens"] == prompt_tokens
    assert off.text == content and "<think>" not in off.text
    if stream:  # the model saved On reads a stream's start as reasoning (nothing was detected)
        assert as_saved.text.startswith("<think>\n")


def test_an_apps_on_and_effort_on_an_auto_model_reach_the_template(plugin, thinking_server):
    saved = {"thinking": "auto"}
    as_saved = ask(plugin, thinking_server, saved, {}, stream=True)
    on = ask(plugin, thinking_server, saved, {"enable_thinking": True}, stream=True)
    effort = ask(plugin, thinking_server, saved, {"enable_thinking": True, "reasoning_effort": "high"}, stream=True)
    # llama-server renders this template with thinking off unless asked: the app's On removes the
    # empty think block, its effort adds the `Reasoning: high` system turn.
    assert on.usage["prompt_tokens"] < as_saved.usage["prompt_tokens"]
    assert effort.usage["prompt_tokens"] > on.usage["prompt_tokens"]
    content, prompt_tokens = served_directly(
        thinking_server, chat_template_kwargs={"enable_thinking": True, "reasoning_effort": "high"}
    )
    assert effort.usage["prompt_tokens"] == prompt_tokens
    assert effort.text == content  # no reasoning sent, none invented
    assert not [entry for entry in plugin.logs if "refused" in str(entry.get("message"))]
