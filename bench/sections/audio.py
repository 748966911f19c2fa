"""Section 8, rows 8a–8b: text-to-speech time to the first audio byte through the stdio runtime
(``invoke_tts``) vs a raw httpx streaming request's, and the plugin process's peak RSS growth while
it transcribes a 20 MB upload (``invoke_speech2text``)."""

from __future__ import annotations

import contextlib
import struct
import time
from pathlib import Path
from typing import Any

import httpx

from bench.driver import quiet_driver
from bench.procfs import proc_mem_mb
from bench.report import compare, fnum, judged, median, paired
from bench.sections import Context, log, rotated
from bench.server import SPEECH_FIRST_BYTE_S, TRANSCRIPT
from tests.support.plugin_process import PluginProcess

TTS_MODEL = "bench-tts"
STT_MODEL = "bench-stt"
TEXT = "The quick brown fox jumps over the lazy dog."
UPLOAD_MB = 20


def _wav(size: int) -> bytes:
    """A 16 kHz mono 16-bit WAV of `size` bytes in all (silence, but a real header)."""
    data = size - 44
    head = b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    return head + b"data" + struct.pack("<I", data) + bytes(data)


def _validated(proc: PluginProcess, model: str, model_type: str, creds: dict[str, Any]) -> dict[str, Any]:
    saved = proc.invoke(
        "validate_model_credentials", model=model, model_type=model_type, credentials=creds, timeout=120
    ).result
    return dict(saved.get("credentials") or creds)


def _tts_first_byte(proc: PluginProcess, creds: dict[str, Any]) -> float:
    with quiet_driver(proc):
        result = proc.invoke(
            "invoke_tts",
            model=TTS_MODEL,
            model_type="tts",
            credentials=creds,
            content_text=TEXT,
            voice="alloy",
            tenant_id="bench-tenant",
            timeout=120,
        )
    result.raise_for_error()
    if not result.stream or not result.stream[0].get("result"):
        raise RuntimeError(f"plugin TTS: no audio frames ({len(result.stream)})")
    return result.stream_times[0]


def _raw_first_byte(client: httpx.Client) -> float:
    body = {"model": TTS_MODEL, "input": TEXT, "voice": "alloy", "response_format": "mp3"}
    t0 = time.perf_counter()
    with client.stream("POST", "/audio/speech", json=body) as response:
        response.raise_for_status()
        first = None
        for chunk in response.iter_raw():
            if chunk and first is None:
                first = time.perf_counter() - t0
    if first is None:
        raise RuntimeError("raw TTS client: no audio")
    return first


def _reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux ≥ 4.0: ``echo 5 > clear_refs``)."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="ascii")
        return True
    return False


def _stt_growth(proc: PluginProcess, creds: dict[str, Any], hexed: str) -> tuple[float, bool]:
    """Peak RSS growth (MiB) of the plugin process over one transcription of the upload."""
    reset = _reset_peak(proc.pid)
    before = proc_mem_mb(proc.pid, "VmHWM")
    with quiet_driver(proc):
        result = proc.invoke(
            "invoke_speech2text", model=STT_MODEL, model_type="speech2text", credentials=creds, file=hexed, timeout=300
        )
    after = proc_mem_mb(proc.pid, "VmHWM")
    result.raise_for_error()
    if result.result.get("result") not in (TRANSCRIPT, ""):
        raise RuntimeError(f"speech-to-text: unexpected answer {result.result!r}")
    return after - before, reset


def run(ctx: Context) -> None:
    cfg, server, report = ctx.cfg, ctx.server, ctx.report
    if not (ctx.target.root / "models" / "tts").is_dir():
        log("8. audio: skipped (the plugin under test has no models/tts)")
        report.notes.append("Section 8: skipped, the plugin under test has no audio model types.")
        return
    creds = {"base_url": server.base_url}
    upload = _wav(UPLOAD_MB * 1_000_000)
    hexed = upload.hex()  # how Dify's daemon sends a file (the SDK unhexlifies it)
    del upload
    mb = UPLOAD_MB * 1_000_000 / 2**20
    ttfb: dict[str, list[float]] = {"raw": [], "plugin": []}
    growth: dict[str, list[float]] = {"floor": [], "plugin": []}
    resets = []
    with (
        PluginProcess(root=ctx.target.root) as plug,
        PluginProcess(root=ctx.plugins.minimal_stt_root) as floor,
        httpx.Client(base_url=server.base_url, timeout=120) as client,
    ):
        plug.wait_heartbeat()
        floor.wait_heartbeat()
        tts = _validated(plug, TTS_MODEL, "tts", creds)
        stt = _validated(plug, STT_MODEL, "speech2text", creds)
        _tts_first_byte(plug, tts)
        _raw_first_byte(client)
        log(
            f"8. audio: TTS first byte ({cfg.audio_reps} interleaved repetitions, server delay "
            f"{SPEECH_FIRST_BYTE_S * 1000:.0f} ms); speech-to-text of a {UPLOAD_MB} MB upload "
            f"({cfg.stt_reps} repetitions, plugin and the SDK-transport floor)"
        )
        for rep in range(cfg.audio_reps):
            for name in rotated(list(ttfb), rep):
                ttfb[name].append(_raw_first_byte(client) if name == "raw" else _tts_first_byte(plug, tts))
        for rep in range(cfg.stt_reps):
            for name in rotated(list(growth), rep):
                value, reset = _stt_growth(plug, stt, hexed) if name == "plugin" else _stt_growth(floor, {}, hexed)
                growth[name].append(value)
                resets.append(reset)
    report.raw["audio"] = {"ttfb": ttfb, "rss_growth_mb": growth, "upload_mib": mb}
    ratio = paired(ttfb["plugin"], ttfb["raw"])
    report.add(
        judged(
            compare(
                "8a",
                f"Text-to-speech through stdio (`invoke_tts`), time to the first audio frame, ms (floor: raw httpx "
                f"streaming request's first body byte; the server waits {SPEECH_FIRST_BYTE_S * 1000:.0f} ms)",
                [t * 1000 for t in ttfb["plugin"]],
                floor=[t * 1000 for t in ttfb["raw"]],
            ),
            "≤ 1.1× floor",
            ratio.median <= 1.1,
        )
    )
    peak = median(growth["plugin"])
    row = compare(
        "8b",
        f"Speech-to-text of a {UPLOAD_MB} MB WAV through stdio (`invoke_speech2text`; Dify sends it hex-encoded, "
        f"{2 * mb:.0f} MiB in one JSON line): plugin-process peak RSS growth, MiB (floor: an SDK plugin whose "
        "class returns without reading the file: the SDK's own decoding)",
        growth["plugin"],
        floor=growth["floor"],
        digits=0,
    )
    row.plugin = f"{row.plugin} = {peak / mb:.1f} copies"
    row.floor = f"{row.floor} = {median(growth['floor']) / mb:.1f} copies"
    report.add(judged(row, f"≤ 2 copies ({fnum(2 * mb, 0)} MiB)", peak <= 2 * mb))
    report.notes.append(
        "Section 8: peak RSS is `VmHWM` from `/proc/<pid>/status`, "
        + (
            "reset to the current RSS before each request (`echo 5 > /proc/<pid>/clear_refs`)"
            if all(resets)
            else "NOT reset before each request (clear_refs refused), so growth may be understated"
        )
        + f"; one upload is a copy. Beyond the floor (what the SDK does before the class is called: a "
        f"{2 * mb:.0f} MiB JSON line parsed, then unhexlified), the plugin's own share is "
        f"{peak - median(growth['floor']):.0f} MiB."
    )
