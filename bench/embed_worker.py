"""Section 3 worker: embed N texts the way Dify drives a model, one contender per process.

``python -m bench.embed_worker --contender NAME --base-url URL --texts N [--batch B]`` writes one
JSON document to stdout: wall and CPU seconds of the embedding loop, peak RSS of the process
(``ru_maxrss``) and RSS just before the loop, requests made, vectors received.

Dify validates the model once (keeping the credentials validation returns), reads ``max_chunks``
from the model schema and then calls ``invoke_text_embedding`` sequentially with that many texts
at a time; the SDK makes a new model instance per call. The contenders:

* ``raw_b64`` - ``openai.OpenAI().embeddings.create(input=batch)`` (the client's default
  ``encoding_format``, base64 float32) with ``--batch`` texts per request - the server batch size
  the plugin was seen to use: the floor.
* ``raw`` - the same with ``encoding_format="float"``.
* ``sdk`` - ``OAICompatEmbeddingModel`` (``bench.baselines``), batches of its schema's max_chunks.
* ``plugin`` - ``BridgeTextEmbeddingModel``, batches of its schema's max_chunks.
* ``probe`` - print both schemas' max_chunks (after one plugin call of that size) and exit.

Vectors are checked (count, dimension) and dropped after each call, as the plugin process drops
them once serialized: peak RSS is what one call costs on top of the imports, not 10,000 vectors.
Every contender runs after ``import dify_plugin`` (gevent monkey-patching), as inside a plugin.
"""

from __future__ import annotations

# dify_plugin first: it gevent-patches the process, as in a plugin.
import dify_plugin  # noqa: F401  # isort: skip

import argparse
import gc
import json
import os
import resource
import time
from collections.abc import Callable, Sequence

from dify_plugin.entities.model import EmbeddingInputType, ModelPropertyKey

from bench.payloads import EMBEDDING_DIM, embedding_texts

MODEL = "bench-embed"

Embed = Callable[[Sequence[str]], list]


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _max_chunks(model: object, credentials: dict) -> int:
    schema = model.get_model_schema(MODEL, credentials)  # type: ignore[attr-defined]
    return int(schema.model_properties[ModelPropertyKey.MAX_CHUNKS])


def _plugin(base_url: str) -> tuple[Embed, int]:
    from models.text_embedding.text_embedding import BridgeTextEmbeddingModel

    try:  # the plugin's process tuning, installed as its main.py does (older commits: by the first client)
        from oai_bridge.runtime import install_tuning
    except ImportError:
        pass
    else:
        install_tuning()
    credentials = {"base_url": base_url}
    BridgeTextEmbeddingModel([]).validate_credentials(MODEL, credentials)  # Dify saves what it adds

    def embed(batch: Sequence[str]) -> list:
        model = BridgeTextEmbeddingModel([])
        return model.invoke(MODEL, credentials, list(batch), None, EmbeddingInputType.DOCUMENT).embeddings

    return embed, _max_chunks(BridgeTextEmbeddingModel([]), credentials)


def _sdk(base_url: str) -> tuple[Embed, int]:
    from bench.baselines import BaselineEmbeddingModel, embedding_credentials

    credentials = embedding_credentials(base_url)
    BaselineEmbeddingModel([]).validate_credentials(MODEL, credentials)

    def embed(batch: Sequence[str]) -> list:
        model = BaselineEmbeddingModel([])
        return model.invoke(MODEL, credentials, list(batch), None, EmbeddingInputType.DOCUMENT).embeddings

    return embed, _max_chunks(BaselineEmbeddingModel([]), credentials)


def _raw(base_url: str, batch_size: int, *, base64: bool) -> tuple[Embed, int]:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)

    def embed(batch: Sequence[str]) -> list:
        if base64:
            response = client.embeddings.create(model=MODEL, input=list(batch))
        else:
            response = client.embeddings.create(model=MODEL, input=list(batch), encoding_format="float")
        return [item.embedding for item in response.data]

    return embed, batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contender", required=True, choices=["raw", "raw_b64", "sdk", "plugin", "probe"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=0, help="texts per request for raw/raw_b64")
    args = parser.parse_args()

    if args.contender == "probe":
        # Schema max_chunks of both classes, and one plugin call of that size so the caller can
        # see (in the server's counters) what server batch size the plugin uses.
        embed, size = _plugin(args.base_url)
        embed(embedding_texts(size))
        doc = {"plugin": size, "sdk": _sdk(args.base_url)[1]}
        os.write(1, json.dumps(doc).encode() + b"\n")
        return
    if args.contender == "plugin":
        embed, size = _plugin(args.base_url)
    elif args.contender == "sdk":
        embed, size = _sdk(args.base_url)
    else:
        if args.batch <= 0:
            parser.error("--batch is required for raw contenders")
        embed, size = _raw(args.base_url, args.batch, base64=args.contender == "raw_b64")

    texts = embedding_texts(args.texts)
    embed(texts[:2])  # connection and first-call imports, outside the measurement
    gc.collect()
    rss_before = _rss_mb()
    calls = vectors = 0
    bad = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    for start in range(0, len(texts), size):
        batch = texts[start : start + size]
        result = embed(batch)
        calls += 1
        vectors += len(result)
        if len(result) != len(batch) or len(result[0]) != EMBEDDING_DIM:
            bad += 1
        del result
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    doc = {
        "contender": args.contender,
        "batch": size,
        "calls": calls,
        "vectors": vectors,
        "ok": bad == 0 and vectors == len(texts),
        "wall": wall,
        "cpu": cpu,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
    }
    os.write(1, json.dumps(doc).encode() + b"\n")


if __name__ == "__main__":
    main()
