"""Section 6, rows 6a–6b: reranking 1,000 documents through the stdio runtime (``invoke_rerank``),
this plugin vs a raw httpx client sending the same batches, and vs the SDK's
``OAICompatRerankModel`` in a throwaway plugin (``bench/plugins.py``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from bench.config import RERANK_MODEL
from bench.driver import quiet_driver
from bench.payloads import embedding_texts, rerank_score
from bench.report import compare, judged, paired, stdio_share_row
from bench.sections import Context, log, rotated
from tests.support.plugin_process import PluginProcess, SessionResult

QUERY = "Which document says the quick brown fox jumps over the lazy dog?"


def _rerank(proc: PluginProcess, creds: dict[str, Any], docs: Sequence[str]) -> SessionResult:
    return proc.invoke(
        "invoke_rerank",
        model=RERANK_MODEL,
        model_type="rerank",
        credentials=creds,
        query=QUERY,
        docs=list(docs),
        top_n=None,
        score_threshold=None,
        timeout=300,
    )


def _check(result: SessionResult, docs: Sequence[str], who: str) -> None:
    """Every document back, best first by the server's scores, with Dify's own text."""
    ranked = result.result["docs"]
    want = sorted(range(len(docs)), key=lambda i: rerank_score(docs[i]), reverse=True)
    if [d["index"] for d in ranked] != want or any(d["text"] != docs[d["index"]] for d in ranked):
        raise RuntimeError(f"{who}: wrong ranking through stdio ({len(ranked)} documents)")


def _raw(client: httpx.Client, docs: Sequence[str], batch: int, parallel: int) -> float:
    """The floor: the same batches, `parallel` at a time, merged and sorted by score. Wall s."""

    def post(start: int) -> list[tuple[float, int]]:
        body = {"model": RERANK_MODEL, "query": QUERY, "documents": list(docs[start : start + batch])}
        response = client.post("/rerank", json=body)
        response.raise_for_status()
        return [(r["relevance_score"], start + r["index"]) for r in response.json()["results"]]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        pairs = [p for part in pool.map(post, range(0, len(docs), batch)) for p in part]
    pairs.sort(reverse=True)
    wall = time.perf_counter() - t0
    if len(pairs) != len(docs):
        raise RuntimeError(f"raw rerank client: {len(pairs)} scores for {len(docs)} documents")
    return wall


def _batches_since(ctx: Context, before: dict[str, Any]) -> dict[int, int]:
    old, new = before["rerank_batches"], ctx.server.stats()["rerank_batches"]
    return {int(k): v - old.get(k, 0) for k, v in new.items() if v - old.get(k, 0)}


def run(ctx: Context) -> None:
    cfg, server, report = ctx.cfg, ctx.server, ctx.report
    docs = embedding_texts(cfg.rerank_docs)
    parallel = int(ctx.target.constant("oai_bridge.rerank.run", "MAX_PARALLEL_BATCHES", 1))
    wall: dict[str, list[float]] = {"raw": [], "stdio": [], "sdk": [], "plugin": []}
    with (
        PluginProcess(root=ctx.target.root) as plug,
        PluginProcess(root=ctx.plugins.sdk_rerank_root) as sdk,
        PluginProcess(root=ctx.plugins.stdio_rerank_root) as stdio,
        httpx.Client(base_url=server.base_url, timeout=120) as client,
    ):
        running: dict[str, tuple[PluginProcess, dict[str, Any]]] = {}
        for name, proc, creds in (
            ("plugin", plug, {"base_url": server.base_url}),
            ("sdk", sdk, {"endpoint_url": server.base_url}),
        ):
            proc.wait_heartbeat()
            saved = proc.invoke(
                "validate_model_credentials", model=RERANK_MODEL, model_type="rerank", credentials=creds, timeout=120
            ).result
            running[name] = (proc, dict(saved.get("credentials") or creds))
        stdio.wait_heartbeat()
        running["stdio"] = (stdio, {"base_url": server.base_url})
        _check(_rerank(*running["stdio"], docs), docs, "stdio")
        before = server.stats()
        _check(_rerank(*running["plugin"], docs), docs, "plugin")  # warm-up, and the batches it sends
        seen = _batches_since(ctx, before)
        batch = max(seen)
        before = server.stats()
        _check(_rerank(*running["sdk"], docs), docs, "sdk")
        sdk_seen = _batches_since(ctx, before)
        _raw(client, docs, batch, parallel)
        log(
            f"6. rerank: {len(docs):,} documents; plugin server batches seen {seen} ({parallel} at a time, the "
            f"plugin's MAX_PARALLEL_BATCHES) -> floor batches of {batch}; SDK batches {sdk_seen}; "
            f"{cfg.rerank_reps} interleaved repetitions"
        )
        for rep in range(cfg.rerank_reps):
            for name in rotated(list(wall), rep):
                if name == "raw":
                    wall["raw"].append(_raw(client, docs, batch, parallel))
                    continue
                proc, creds = running[name]
                with quiet_driver(proc):
                    result = _rerank(proc, creds, docs)
                _check(result, docs, name)
                assert result.elapsed is not None
                wall[name].append(result.elapsed)
    report.raw["rerank"] = {"wall": wall, "batches": seen, "sdk_batches": sdk_seen, "parallel": parallel}
    vs_floor = paired(wall["plugin"], wall["raw"])
    vs_sdk = paired(wall["plugin"], wall["sdk"])
    speedup = 1 / vs_sdk.median
    row = compare(
        "6a",
        f"Rerank, {len(docs):,} documents of ~500 chars through stdio (`invoke_rerank`, top_n none): wall ms "
        f"(floor: raw httpx client, the plugin's server batches of {batch}, {parallel} at a time; SDK: "
        f"`OAICompatRerankModel`, which sends {', '.join(f'{n}×{k}' for k, n in sdk_seen.items())} documents)",
        [w * 1000 for w in wall["plugin"]],
        floor=[w * 1000 for w in wall["raw"]],
        sdk=[w * 1000 for w in wall["sdk"]],
    )
    row.vs_sdk = f"{vs_sdk.text()} = {speedup:.1f}× faster"
    report.add(judged(row, "≤ 1.2× floor and ≥ 5× faster than SDK", vs_floor.median <= 1.2 and speedup >= 5))
    report.add(stdio_share_row("6b", wall, f"ranks the same {len(docs):,} documents"))
    report.notes.append(
        "Section 6: the loopback server scores instantly (a fixed function of each document's number), so the "
        "rows show client-side cost only: request building, JSON both ways, the stdio frames of 1,000 ranked "
        "documents, no model time. The floor runs in the orchestrator process (plain threads, one pooled "
        "`httpx.Client`, no gevent) and only merges and sorts the scores."
    )
