"""`make demo`: the plugin at work as Dify uses it, with no Dify and no GPU.

Builds (the first time; then cached) and starts the project's real peer, llama.cpp's
`llama-server` with a tiny generated chat model, and a second one with a tiny reranker; runs
`python -m main` over stdio exactly as Dify's plugin daemon does (the same driver the tests use,
tests/support/plugin_process.py); and prints what Dify would get for each model action. Exits 0,
or non-zero with one paragraph saying what failed.
"""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import llama_server  # noqa: E402
from tests.support.plugin_process import PluginProcess  # noqa: E402
from tests.support.prompts import ANSWER_SCHEMA, NUDGE, USER, WEATHER_TOOL, structured_request, tool_call_request  # noqa: E402

WIDTH = 100
QUERY = "What is the capital of France?"
DOCS = [
    "The capital of France is Paris.",
    "A panda is a bear that eats bamboo.",
    "Berlin is the capital of Germany.",
    "The weather in Paris is sunny today.",
]


class DemoFailure(Exception):
    """A step failed; the message is the paragraph to print."""


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def section(title: str) -> None:
    say()
    say(f"== {title} " + "=" * max(0, WIDTH - len(title) - 4))


def show(label: str, value: Any) -> None:
    say(f"  {label:<22} {value}")


def step(what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except DemoFailure:
        raise
    except Exception as exc:
        raise DemoFailure(f"{what} failed: {exc}") from exc


def build_and_start(stack: ExitStack) -> tuple[llama_server.LlamaServer, llama_server.RerankServer]:
    section("1. The model servers (llama.cpp's llama-server, tiny generated models, CPU only)")
    started = time.monotonic()
    say("  Building llama-server and the tiny models if they are not cached yet")
    say("  (first time only: about 7 minutes on 2 cores; needs gcc/g++, cmake and PyPI).")
    cache = step(
        "Building llama-server (tests/peer/build_llama_server.sh)",
        lambda: llama_server.ensure_built(sys.executable, progress=lambda line: say(f"    {line}")),
    )
    show("cache", f"{cache} ({time.monotonic() - started:.0f}s)")
    logs = Path(tempfile.mkdtemp(prefix="oaib-demo-"))
    chat = step("Starting llama-server", lambda: stack.enter_context(llama_server.LlamaServer.start(log_dir=logs)))
    show("chat + embeddings", f"{chat.base_url}  model {chat.model!r}")
    rerank = step(
        "Starting llama-server --reranking",
        lambda: stack.enter_context(llama_server.RerankServer.start(log_dir=logs)),
    )
    show("rerank", f"{rerank.base_url}  model {rerank.model!r}")
    show("server logs", logs)
    return chat, rerank


def result_of(what: str, session: Any) -> Any:
    if session.error is not None or session.protocol_errors:
        message = (session.error or {}).get("message") or session.protocol_errors
        raise DemoFailure(f"{what}: the plugin answered {session.error_type}: {message}")
    return session


def validate(plugin: PluginProcess, model: str, model_type: str, base_url: str) -> dict:
    session = plugin.invoke(
        "validate_model_credentials", model=model, model_type=model_type, credentials={"base_url": base_url}
    )
    saved = result_of(f"Saving the {model_type} model", session).result["credentials"]
    show(f"{model_type} {model!r}", "saved:")
    for key, value in saved.items():
        say(f"      {key} = {value}")
    return saved


def stream_chat(plugin: PluginProcess, creds: dict) -> None:
    section("3. A streamed chat answer (invoke_llm, stream=True)")
    pending = plugin.start_invoke(
        "invoke_llm",
        model="tiny",
        credentials=creds,
        prompt_messages=USER,
        model_parameters={"max_tokens": 24, "temperature": 0},
        stream=True,
    )
    say(f"  user: {USER[0]['content']}")
    sys.stdout.write("  assistant: ")
    shown = 0
    deadline = time.monotonic() + 120
    while not pending.done():  # print the chunks as Dify receives them
        chunks = pending.result.chunks
        for chunk in chunks[shown:]:
            content = (chunk.get("delta") or {}).get("message", {}).get("content")
            if isinstance(content, str):
                sys.stdout.write(content.replace("\n", " "))
                sys.stdout.flush()
        shown = len(chunks)
        if time.monotonic() > deadline:
            raise DemoFailure("The streamed chat answer did not end within 120 s.")
        time.sleep(0.02)
    result = result_of("The streamed chat answer", pending.wait(5))
    for chunk in result.chunks[shown:]:
        content = (chunk.get("delta") or {}).get("message", {}).get("content")
        if isinstance(content, str):
            sys.stdout.write(content.replace("\n", " "))
    say()
    usage = result.usage or {}
    show("chunks", len(result.chunks))
    show("finish reason", result.finish_reason)
    show(
        "usage",
        f"prompt_tokens={usage.get('prompt_tokens')} completion_tokens={usage.get('completion_tokens')} "
        f"total_tokens={usage.get('total_tokens')}",
    )
    if not result.text or not usage.get("completion_tokens"):
        raise DemoFailure("The streamed chat answer came back without text or without usage.")


def tool_call(plugin: PluginProcess, creds: dict) -> None:
    section("4. A tool call (invoke_llm with tools: what an agent node gets)")
    result = result_of(
        "The tool call",
        plugin.invoke("invoke_llm", timeout=180, **tool_call_request("tiny", creds, stream=True)),
    )
    show("tool offered", f"{WEATHER_TOOL['name']}(city: Paris|Rome, unit: c|f)")
    show("extra body fields", f"{json.dumps(NUDGE)}  (steers the random model into a call)")
    calls = result.tool_calls
    if not calls:
        raise DemoFailure("The model did not call the tool.")
    for call in calls:
        arguments = json.loads(call["function"]["arguments"])
        show("tool call", f"id={call['id']} {call['function']['name']}({json.dumps(arguments)})")
    show("finish reason", result.finish_reason)


def structured(plugin: PluginProcess, creds: dict) -> None:
    section("5. A structured answer (response_format json_schema)")
    result = result_of(
        "The structured answer",
        plugin.invoke("invoke_llm", **structured_request("tiny", creds, max_tokens=100)),
    )
    show("schema", json.dumps(ANSWER_SCHEMA["schema"]["properties"]))
    try:
        answer = json.loads(result.text)
    except ValueError as exc:
        raise DemoFailure(f"The structured answer is not JSON: {result.text!r}") from exc
    show("answer (parsed JSON)", json.dumps(answer))


def embeddings(plugin: PluginProcess, creds: dict) -> None:
    section("6. Embeddings (invoke_text_embedding: what a knowledge base gets)")
    texts = ["Paris is the capital of France.", "Pandas eat bamboo.", "The weather is sunny."]
    result = result_of(
        "The embeddings",
        plugin.invoke(
            "invoke_text_embedding", model="tiny", model_type="text-embedding", credentials=creds, texts=texts
        ),
    ).result
    vectors = result["embeddings"]
    show("texts", len(texts))
    sizes = sorted({len(v) for v in vectors})
    show("vectors", f"{len(vectors)}, of {' or '.join(map(str, sizes))} numbers each")
    show("first vector starts", ", ".join(f"{x:+.4f}" for x in vectors[0][:4]) + ", …")
    show("usage", f"tokens={result['usage']['tokens']}")
    if len(vectors) != len(texts):
        raise DemoFailure(f"The embeddings came back as {len(vectors)} vectors for {len(texts)} texts.")


def rerank(plugin: PluginProcess, creds: dict) -> None:
    section("7. A rerank (invoke_rerank: what a knowledge-base retrieval gets)")
    result = result_of(
        "The rerank",
        plugin.invoke(
            "invoke_rerank",
            model="tiny-reranker",
            model_type="rerank",
            credentials=creds,
            query=QUERY,
            docs=DOCS,
            top_n=3,
            score_threshold=None,
        ),
    ).result
    show("query", QUERY)
    show("documents", len(DOCS))
    for doc in result["docs"]:
        show(f"  #{doc['index']} score", f"{doc['score']:.4f}  {doc['text']}")


def responses_call(plugin: PluginProcess, creds: dict) -> None:
    section("8. The same model over OpenAI's Responses API (API type = Responses)")
    responses = dict(creds, api_type="responses")
    result = result_of(
        "The Responses API answer",
        plugin.invoke(
            "invoke_llm",
            model="tiny",
            credentials=responses,
            prompt_messages=USER,
            model_parameters={"max_tokens": 16, "temperature": 0},
            stream=True,
        ),
    )
    usage = result.usage or {}
    show("request", "POST /v1/responses (store: false, the whole conversation as input items)")
    show("answer", " ".join(result.text.split()))
    show(
        "usage (response.completed)",
        f"input_tokens={usage.get('prompt_tokens')} output_tokens={usage.get('completion_tokens')}",
    )
    show("finish reason", result.finish_reason)
    if not result.text or not usage.get("completion_tokens"):
        raise DemoFailure("The Responses API answer came back without text or without usage.")


def run() -> None:
    say("OpenAI-Compatible Bridge: a demo of the plugin as Dify uses it (no Dify, no GPU needed)")
    with ExitStack() as stack:
        chat, reranker = build_and_start(stack)

        section("2. The plugin, started as Dify's daemon starts it (python -m main over stdio)")
        plugin = step("Starting the plugin", lambda: stack.enter_context(PluginProcess(root=ROOT)))
        show("plugin", f"{plugin.manifest.get('name')} {plugin.manifest.get('version')} (pid {plugin.pid})")
        say("  Adding the models, as in Settings > Model Provider (Dify saves what validation returns):")
        llm = validate(plugin, "tiny", "llm", chat.base_url)
        embedding = validate(plugin, "tiny", "text-embedding", chat.base_url)
        reranking = validate(plugin, "tiny-reranker", "rerank", reranker.base_url)

        stream_chat(plugin, llm)
        tool_call(plugin, llm)
        structured(plugin, llm)
        embeddings(plugin, embedding)
        rerank(plugin, reranking)
        responses_call(plugin, llm)

        section("What this shows")
        say(
            textwrap.fill(
                "The tiny models have random weights, so their words, vectors and scores mean nothing. "
                "Everything around them is real: the llama.cpp server and its OpenAI-compatible API, the "
                "plugin process and Dify's stdio protocol, the detection when a model is saved, streaming, "
                "tool-call assembly, structured output, token usage, batching and ranking. Point the plugin "
                "at a real model (make run, or make package and install it in Dify) and the same calls "
                "carry real answers.",
                WIDTH,
                initial_indent="  ",
                subsequent_indent="  ",
            )
        )
        say()
        say("Stopping the servers and the plugin.")
    say("Demo finished.")


def main() -> int:
    try:
        run()
    except DemoFailure as exc:
        say()
        say(textwrap.fill(f"The demo stopped: {exc}", WIDTH))
        return 1
    except KeyboardInterrupt:
        say("\nInterrupted; the servers and the plugin were stopped.")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
