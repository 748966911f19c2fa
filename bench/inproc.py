"""Section 1 worker: streamed chat completions consumed in-process, three contenders interleaved.

``python -m bench.inproc --base-url URL --scenarios M1,M2 --reps N`` writes one JSON document
to stdout. Run from the repository root (``models.llm.llm`` must import). The loopback server is
another process, so this process's CPU time is the client's alone.

Contenders (a fresh model instance per request, as Dify's SDK makes one per request; the model
classes get the credentials their own `validate_credentials` left, as Dify saves them):

* ``raw`` - ``openai.OpenAI(...).chat.completions.create(stream=True)``, reading
  ``delta.content`` (and ``reasoning_content`` from the chunk's extra fields): the floor.
* ``sdk`` - ``OAICompatLargeLanguageModel.invoke(...)`` (the SDK's generic class).
* ``plugin`` - ``BridgeLargeLanguageModel.invoke(...)``.
* ``minimal`` - a reference, not a contender: hand-rolled httpx + ``json.loads`` (see `_minimal`).

Every contender runs after ``import dify_plugin`` (gevent monkey-patching), as inside a plugin.
"""

from __future__ import annotations

# dify_plugin first: it gevent-patches the process, and all three contenders must run patched.
import dify_plugin  # isort: skip

import argparse
import gc
import json
import os
import socket
import time
from collections.abc import Callable

import gevent.socket
import httpx
import openai
from dify_plugin.entities.model.message import UserPromptMessage

from bench.baselines import TOKENIZER_CALLS, BaselineLargeLanguageModel, llm_credentials
from bench.payloads import Scenario, expected_content, expected_reasoning
from models.llm.llm import BridgeLargeLanguageModel

try:  # the plugin's process tuning, installed as its main.py does (older commits: by the first client)
    from oai_bridge.runtime import install_tuning
except ImportError:
    pass
else:
    install_tuning()

PROMPT = "Write a long story about a fox."

Runner = Callable[[str, list[str]], float | None]


def _raw(base_url: str) -> Runner:
    client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    messages = [{"role": "user", "content": PROMPT}]

    def run(model: str, parts: list[str]) -> float | None:
        first = None
        stream = client.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            extra = delta.model_extra
            text = (extra.get("reasoning_content") if extra else None) or delta.content
            if text:
                parts.append(text)
                if first is None:
                    first = time.perf_counter()
        return first

    return run


def _minimal(base_url: str) -> Runner:
    """Not a contender, a reference: the least Python can do with this stream (one httpx client,
    SSE lines, `json.loads`, two dict lookups), with no objects built for the caller."""
    client = httpx.Client(base_url=base_url, timeout=60)
    loads = json.loads

    def run(model: str, parts: list[str]) -> float | None:
        first = None
        body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
        with client.stream("POST", "/chat/completions", json=body) as response:
            for line in response.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                choices = loads(line[6:]).get("choices")
                if not choices:
                    continue
                delta = choices[0]["delta"]
                text = delta.get("reasoning_content") or delta.get("content")
                if text:
                    parts.append(text)
                    if first is None:
                        first = time.perf_counter()
        return first

    return run


def _validated(cls: type, base: dict) -> Callable[[str], dict]:
    """Dify validates a model once when it is saved and stores the credentials validation
    returns (a plugin may add what it detected); every later call gets those."""
    saved: dict[str, dict] = {}

    def credentials(model: str) -> dict:
        creds = saved.get(model)
        if creds is None:
            creds = dict(base)
            cls([]).validate_credentials(model, creds)
            saved[model] = creds
        return creds

    return credentials


def _dify_model(cls: type, creds: dict) -> Runner:
    """A Dify LLM class driven the way the SDK's executor drives it (the SDK baseline, the plugin)."""
    credentials = _validated(cls, creds)

    def run(model: str, parts: list[str]) -> float | None:
        first = None
        llm = cls([])
        prompt = [UserPromptMessage(content=PROMPT)]
        for chunk in llm.invoke(model, credentials(model), prompt, {}, None, None, True, None):
            text = chunk.delta.message.content
            if text:
                parts.append(text)
                if first is None:
                    first = time.perf_counter()
        return first

    return run


def _sdk(base_url: str) -> Runner:
    return _dify_model(BaselineLargeLanguageModel, llm_credentials(base_url))


def _plugin(base_url: str) -> Runner:
    return _dify_model(BridgeLargeLanguageModel, {"base_url": base_url})


CONTENDERS = {"raw": _raw, "minimal": _minimal, "sdk": _sdk, "plugin": _plugin}


def _check(s: Scenario, text: str) -> bool:
    """Same text out as the server sent in (reasoning may be wrapped in <think> tags)."""
    return text.endswith(expected_content(s)) and expected_reasoning(s) in text


def measure(run: Runner, model: str) -> dict:
    s = Scenario.parse(model)
    assert s is not None
    parts: list[str] = []
    gc.collect()
    t0 = time.perf_counter()
    c0 = time.process_time()
    tc0 = time.thread_time()
    first = run(model, parts)
    tc1 = time.thread_time()
    c1 = time.process_time()
    t1 = time.perf_counter()
    text = "".join(parts)
    return {
        "cpu": c1 - c0,
        "thread_cpu": tc1 - tc0,
        "wall": t1 - t0,
        "ttfc": None if first is None else first - t0,
        "deltas": s.deltas,
        "pieces": len(parts),
        "ok": _check(s, text),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--scenarios", required=True, help="comma-separated bench model ids")
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--contenders", default="raw,minimal,sdk,plugin")
    args = parser.parse_args()

    names = args.contenders.split(",")
    runners = {name: CONTENDERS[name](args.base_url) for name in names}
    scenarios = args.scenarios.split(",")
    results: list[dict] = []
    for model in scenarios:
        for name in names:
            for _ in range(args.warmup):
                measure(runners[name], model)
    for rep in range(args.reps):
        # Interleaved, and the order rotates each repetition so no contender always goes first.
        for model in scenarios:
            k = rep % len(names)
            for name in names[k:] + names[:k]:
                row = measure(runners[name], model)
                row.update(contender=name, scenario=model, rep=rep)
                results.append(row)
    doc = {
        "results": results,
        "gevent_patched": socket.socket is gevent.socket.socket,
        "dify_plugin": dify_plugin.__name__,
        "baseline_tokenizer_calls": TOKENIZER_CALLS["count"],
    }
    os.write(1, json.dumps(doc).encode() + b"\n")


if __name__ == "__main__":
    main()
