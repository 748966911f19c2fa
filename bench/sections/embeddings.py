"""Section 3, rows 3a–3c: embeddings driven as Dify drives them, one fresh worker process
(``bench/embed_worker.py``) per run."""

from __future__ import annotations

from typing import Any

from bench.report import compare, fnum, judged, median, paired
from bench.sections import Context, log, rotated


def _worker(ctx: Context, contender: str, texts: int, batch: int) -> dict[str, Any]:
    args = ["--contender", contender, "--base-url", ctx.server.base_url, "--texts", str(texts), "--batch", str(batch)]
    doc = ctx.target.run_worker("bench.embed_worker", args)
    if contender != "probe" and not doc["ok"]:
        raise RuntimeError(f"bench.embed_worker {contender}: wrong vectors: {doc}")
    return doc


def _batch_sizes(before: dict[str, Any], after: dict[str, Any]) -> dict[int, int]:
    """Embedding requests the server received between two `stats()`, by number of inputs."""
    old = before["embedding_batches"]
    return {int(k): v - old.get(k, 0) for k, v in after["embedding_batches"].items() if v - old.get(k, 0)}


def _measured(ctx: Context, name: str, batch: int) -> dict[str, Any]:
    """One run of a contender, with what the server saw of it."""
    server = ctx.server
    s0, st0 = server.cpu(), server.stats()
    doc = _worker(ctx, name, ctx.cfg.embed_texts, batch)
    st1 = server.stats()
    doc["server_cpu"] = server.cpu() - s0
    doc["requests"] = st1["embeddings"] - st0["embeddings"]
    doc["server_batches"] = _batch_sizes(st0, st1)
    doc["encodings"] = {k: v - st0["embedding_encodings"].get(k, 0) for k, v in st1["embedding_encodings"].items()}
    log(f"   {name}: {doc['wall']:.2f} s wall, {doc['calls']} calls, peak RSS {doc['peak_rss_mb']:.0f} MB")
    return doc


def run(ctx: Context) -> None:
    cfg, server, report = ctx.cfg, ctx.server, ctx.report
    before = server.stats()
    probe = _worker(ctx, "probe", 1, 0)
    seen = _batch_sizes(before, server.stats())
    batch = max(seen)  # the plugin's server batch (validation's one-text ping is smaller)
    log(
        f"3. embeddings: {cfg.embed_texts:,} texts; schema max_chunks: plugin {probe['plugin']}, SDK "
        f"{probe['sdk']}; plugin server batches seen {seen} -> floor batch {batch}; "
        f"{cfg.embed_reps} interleaved repetitions (one process per run)"
    )
    names = ["raw_b64", "sdk", "plugin"]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in [*names, "raw"]}
    for rep in range(cfg.embed_reps):
        order = rotated(names, rep) + (["raw"] if rep == 0 and cfg.embed_raw_float else [])
        for name in order:
            runs[name].append(_measured(ctx, name, batch))
    report.raw["embeddings"] = {"probe": probe, "runs": runs}
    wall = {name: [d["wall"] for d in docs] for name, docs in runs.items()}
    vs_floor = paired(wall["plugin"], wall["raw_b64"])
    vs_sdk = paired(wall["plugin"], wall["sdk"])
    speedup = 1 / vs_sdk.median
    row = compare(
        "3a",
        f"Embeddings, {cfg.embed_texts:,} texts of ~500 chars, sequential calls of the schema's max_chunks "
        f"(plugin {probe['plugin']}, SDK {probe['sdk']}; floor: raw `openai` client, default encoding, "
        f"{batch} texts per request like the plugin's server batches): wall s",
        wall["plugin"],
        floor=wall["raw_b64"],
        sdk=wall["sdk"],
        digits=2,
    )
    row.vs_sdk = f"{vs_sdk.text()} = {speedup:.1f}× faster"
    report.add(judged(row, "≤ 1.2× floor and ≥ 10× faster than SDK", vs_floor.median <= 1.2 and speedup >= 10))
    if runs["raw"]:
        row = compare(
            "3b",
            f'… floor variant, info: raw `openai` client with `encoding_format="float"` (what the SDK class '
            f"asks for), {batch} texts per request: wall s (one run)",
            wall["plugin"][:1],
            floor=wall["raw"],
            digits=2,
        )
        row.plugin = fnum(median(wall["plugin"]), 2)  # every plugin run, the ratio pairs the first
        report.add(row)
    peak = {name: [d["peak_rss_mb"] for d in docs] for name, docs in runs.items()}
    report.add(
        compare(
            "3c",
            "… peak RSS of the embedding process, MB (imports included)",
            peak["plugin"],
            floor=peak["raw_b64"],
            sdk=peak["sdk"],
            digits=0,
        )
    )
    calls = {name: docs[0]["calls"] for name, docs in runs.items() if docs}
    requests = {name: docs[0]["requests"] for name, docs in runs.items() if docs}
    server_share = max(d["server_cpu"] / d["wall"] for docs in runs.values() for d in docs)
    report.notes.append(
        f"Section 3: Dify-side calls per run: {', '.join(f'{k} {v:,}' for k, v in calls.items())}; HTTP "
        f"requests (validation and warm-up included): {', '.join(f'{k} {v:,}' for k, v in requests.items())}; "
        f"encodings the plugin asked for: "
        f"{runs['plugin'][0]['encodings']}. The loopback "
        f"server used at most {server_share:.0%} of one core during any run. The SDK baseline's GPT-2 tokenizer "
        f"(one call per text) is replaced by `len(text) // 4` (no download possible here), which flatters it."
    )
