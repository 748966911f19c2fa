"""Section 7, row 7a: multimodal embeddings of 100 images through the stdio runtime
(``invoke_multimodal_embedding``, vLLM's chat-style ``messages`` body, one input per request, run
concurrently by the plugin) vs a raw httpx client sending the same requests as concurrently."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench.config import EMBED_MODEL
from bench.driver import quiet_driver
from bench.payloads import EMBEDDING_DIM, png_data_uris
from bench.report import compare, judged, paired, stdio_share_row
from bench.sections import Context, log, rotated
from tests.support.plugin_process import PluginProcess, SessionResult


def _embed(proc: PluginProcess, creds: dict[str, Any], images: Sequence[str]) -> SessionResult:
    return proc.invoke(
        "invoke_multimodal_embedding",
        model=EMBED_MODEL,
        credentials=creds,
        documents=[{"content": uri, "content_type": "image"} for uri in images],
        input_type="document",
        timeout=300,
    )


def _check(result: SessionResult, count: int) -> None:
    vectors = result.result["embeddings"]
    if len(vectors) != count or any(len(v) != EMBEDDING_DIM for v in vectors):
        raise RuntimeError(f"plugin: {len(vectors)} multimodal vectors for {count} images")


def _raw(client: httpx.Client, images: Sequence[str], parallel: int) -> float:
    """The floor: the plugin's request bodies, `parallel` at a time, vectors read in order. Wall s."""

    def post(uri: str) -> list[float]:
        body = {
            "model": EMBED_MODEL,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}}]}],
            "encoding_format": "float",
        }
        response = client.post("/embeddings", json=body)
        response.raise_for_status()
        return response.json()["data"][0]["embedding"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        vectors = list(pool.map(post, images))
    wall = time.perf_counter() - t0
    if len(vectors) != len(images) or any(len(v) != EMBEDDING_DIM for v in vectors):
        raise RuntimeError("raw multimodal client: wrong vectors")
    return wall


def run(ctx: Context) -> None:
    cfg, server, report = ctx.cfg, ctx.server, ctx.report
    images = png_data_uris(cfg.mm_images)
    parallel = int(ctx.target.constant("oai_bridge.embeddings.embed", "PARALLEL_BATCHES", 1))
    wall: dict[str, list[float]] = {"raw": [], "stdio": [], "plugin": []}
    with (
        PluginProcess(root=ctx.target.root) as proc,
        PluginProcess(root=ctx.plugins.stdio_embed_root) as stdio,
        httpx.Client(base_url=server.base_url, timeout=120) as client,
    ):
        stdio.wait_heartbeat()
        proc.wait_heartbeat()
        creds = {"base_url": server.base_url}
        saved = proc.invoke(
            "validate_model_credentials", model=EMBED_MODEL, model_type="text-embedding", credentials=creds, timeout=120
        ).result
        creds = dict(saved.get("credentials") or creds)
        form = creds.get("_detected_multimodal_input")
        if form != "messages":
            raise RuntimeError(f"multimodal embeddings: the plugin detected form {form!r}, not 'messages'")
        before = server.stats()["multimodal_embeddings"]
        _check(_embed(proc, creds, images), len(images))  # warm-up: every pooled connection opened
        requests = server.stats()["multimodal_embeddings"] - before
        _raw(client, images, parallel)
        _check(_embed(stdio, {"base_url": server.base_url}, images), len(images))
        log(
            f"7. multimodal embeddings: {len(images)} images, {requests} requests per plugin call, {parallel} at a "
            f"time (the plugin's PARALLEL_BATCHES); {cfg.mm_reps} interleaved repetitions"
        )
        for rep in range(cfg.mm_reps):
            for name in rotated(list(wall), rep):
                if name == "raw":
                    wall["raw"].append(_raw(client, images, parallel))
                    continue
                runner, runner_creds = (proc, creds) if name == "plugin" else (stdio, {"base_url": server.base_url})
                with quiet_driver(runner):
                    result = _embed(runner, runner_creds, images)
                _check(result, len(images))
                assert result.elapsed is not None
                wall[name].append(result.elapsed)
    report.raw["multimodal"] = {"wall": wall, "requests": requests, "parallel": parallel}
    ratio = paired(wall["plugin"], wall["raw"])
    row = compare(
        "7a",
        f"Multimodal embeddings, {len(images)} small PNG data URIs through stdio (`invoke_multimodal_embedding`, "
        f"vLLM `messages` body, {requests} requests): wall ms (floor: raw httpx client, the same requests, "
        f"{parallel} at a time)",
        [w * 1000 for w in wall["plugin"]],
        floor=[w * 1000 for w in wall["raw"]],
    )
    report.add(judged(row, "≤ 1.2× floor", ratio.median <= 1.2))
    report.add(stdio_share_row("7b", wall, f"returns {len(images)} vectors of the same size"))
