"""`make doctor` for every model type: the same detection as saving, against the real peers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from oai_bridge.doctor import API_KEY_ENV, docker_url
from tests.support.fake_server import Response, json_response

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oai_bridge.doctor", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("url", "inside"),
    [
        ("http://localhost:11434/v1", "http://host.docker.internal:11434/v1"),
        ("http://127.0.0.1:8000/v1", "http://host.docker.internal:8000/v1"),
        ("http://gpu-box.lan:8000/v1", None),
    ],
)
def test_docker_form_of_a_loopback_url(url: str, inside: str | None) -> None:
    assert docker_url(url) == inside


@pytest.mark.llama
def test_doctor_for_an_embedding_model(llama_server):
    done = run_doctor("--base-url", llama_server.base_url, "--model", "tiny", "--type", "embedding")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Vector size" in done.stdout
    assert "> Text Embedding" in done.stdout
    assert "from Dify running in Docker: http://host.docker.internal:" in done.stdout


@pytest.mark.llama
def test_doctor_for_a_rerank_model(rerank_server):
    done = run_doctor("--base-url", rerank_server.base_url, "--model", rerank_server.model, "--type", "rerank")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rerank_path" in done.stdout and "> Rerank" in done.stdout


def test_doctor_failure_is_one_paragraph_and_exits_non_zero():
    done = run_doctor("--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--type", "embedding", "--timeout", "3")
    assert done.returncode == 1
    assert done.stdout.startswith("FAILED (InvokeConnectionError): Cannot connect")
    assert "host.docker.internal" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_doctor_for_a_speech_to_text_model(fake_server):
    # the same save-time check as Dify's: the plugin's own tone clip, transcribed
    fake_server.always(json_response({"object": "list", "data": []}), path="/v1/models")
    fake_server.always(json_response({"text": "hello"}), path="/v1/audio/transcriptions")
    done = run_doctor("--base-url", fake_server.base_url, "--model", "whisper", "--type", "speech2text")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "> Speech2text" in done.stdout
    (upload,) = fake_server.requests_to("/v1/audio/transcriptions")
    assert b'filename="' in upload.body and b"RIFF" in upload.body


def test_doctor_for_a_tts_model_lists_the_voices(fake_server):
    fake_server.always(json_response({"voices": ["af_heart", "am_adam"]}), path="/v1/audio/voices")
    fake_server.always(Response(headers={"Content-Type": "audio/mpeg"}, body=b"ID3\x04" + b"\0" * 64))
    done = run_doctor("--base-url", fake_server.base_url, "--model", "kokoro", "--type", "tts")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "af_heart" in done.stdout and "> TTS" in done.stdout


# --- the doctor is saving, for every field ----------------------------------------------------------
def doctor_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {API_KEY_ENV, "API_KEY", "MAKEFLAGS", "MAKELEVEL"}}
    return {**env, **extra}


def run_doctor_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "oai_bridge.doctor", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def saved_message(plugin, model: str, model_type: str, credentials: dict) -> str:
    saved = plugin.invoke("validate_model_credentials", model=model, model_type=model_type, credentials=credentials)
    assert saved.error_type == "CredentialsValidateFailedError", saved.error
    return saved.error["message"]


@pytest.mark.llama
def test_keyless_litellm_check_gives_savings_message(litellm_proxy, plugin):
    # LiteLLM answers a request without a key with a bare 500: saving adds "No API key was sent".
    base = litellm_proxy.base_url
    done = run_doctor_env(doctor_env(), "--base-url", base, "--model", litellm_proxy.model)
    assert done.returncode == 1
    message = saved_message(plugin, litellm_proxy.model, "llm", {"base_url": base, "api_key": ""})
    assert "No API key was sent" in message
    assert done.stdout.startswith("FAILED (") and done.stdout.endswith(
        f"): {message}\nSaving this model in Dify would fail the same way.\n"
    ), (done.stdout, message)


@pytest.mark.llama
@pytest.mark.parametrize("how", ["OAI_BRIDGE_API_KEY", "make API_KEY"])
def test_the_key_comes_from_the_environment(litellm_proxy, how):
    key = litellm_proxy.master_key
    if how == "make API_KEY":
        model_and_key = [f"MODEL={litellm_proxy.model}", f"API_KEY={key}"]
        done = subprocess.run(
            ["make", "--no-print-directory", "doctor", f"BASE_URL={litellm_proxy.base_url}", *model_and_key],
            cwd=REPO_ROOT,
            env=doctor_env(),
            capture_output=True,
            text=True,
            timeout=180,
        )
    else:
        env = doctor_env(OAI_BRIDGE_API_KEY=key)
        done = run_doctor_env(env, "--base-url", litellm_proxy.base_url, "--model", litellm_proxy.model)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Plain request       ok" in done.stdout
    assert key not in done.stdout + done.stderr


@pytest.mark.llama
def test_tts_with_wav_passes_against_piper_as_saving_does(tts_peer, plugin):
    env = doctor_env(OAI_BRIDGE_API_KEY=tts_peer.api_key)
    args = ("--base-url", tts_peer.base_url, "--model", "tts-1", "--type", "tts")
    done = run_doctor_env(env, *args, "--tts-format", "wav")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "> TTS" in done.stdout and "tts_format          wav" in done.stdout
    same = run_doctor_env(env, *args, "--field", "tts_format=wav")
    assert same.returncode == 0, same.stdout
    # Without the format the doctor fails exactly as saving with the form's default (mp3) does.
    mp3 = run_doctor_env(env, *args)
    message = saved_message(plugin, "tts-1", "tts", {"base_url": tts_peer.base_url, "api_key": tts_peer.api_key})
    assert mp3.returncode == 1 and message in mp3.stdout, (mp3.stdout, message)


@pytest.mark.llama
def test_difys_type_name_text_embedding_is_accepted(llama_server):
    done = run_doctor("--base-url", llama_server.base_url, "--model", "tiny", "--type", "text-embedding")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "> Text Embedding" in done.stdout and "Vector size" in done.stdout


def test_form_fields_reach_the_requests(fake_server):
    fake_server.always(json_response({"object": "list", "data": [{"id": "m"}]}), path="/v1/models")
    fake_server.always(
        json_response({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.5]}]}),
        path="/v1/embeddings",
    )
    done = run_doctor(
        "--base-url",
        fake_server.base_url,
        "--model",
        "m",
        "--type",
        "embedding",
        "--extra-headers",
        '{"X-Tenant": "tenant-secret-9"}',
        "--extra-body",
        '{"truncate_prompt_tokens": 64}',
        "--field",
        "endpoint_model_name=served-name",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    request = fake_server.requests_to("/v1/embeddings")[0]
    assert request.headers.get("x-tenant") == "tenant-secret-9"
    body = json.loads(request.body)
    assert body["truncate_prompt_tokens"] == 64 and body["model"] == "served-name"
    assert "tenant-secret-9" not in done.stdout  # header values are never printed
    assert "extra_headers       (as given)" in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--field", "colour=blue"], "'colour' is not a field of the model form; the form has: base_url, api_key"),
        (["--field", "timeout"], "--field takes name=value"),
        (["--field", "api_key=x"], "give api_key with --api-key"),
    ],
)
def test_bad_fields_are_named(args, says):
    done = run_doctor("--base-url", "http://127.0.0.1:9/v1", "--model", "m", *args)
    assert done.returncode == 2 and says in done.stderr, done.stderr


def test_a_bad_form_value_fails_with_savings_words():
    done = run_doctor("--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--verify-tls", "off", "--timeout", "-1")
    assert done.returncode == 1
    assert done.stdout.startswith("FAILED (settings): `timeout` must be greater than 0 seconds.")


def test_doctor_keeps_the_query_string_and_tells_what_to_enter(fake_server):
    # An Azure-style deployment: every check carries the api-version, and the URL to enter keeps it.
    deployment = "/openai/deployments/d"
    fake_server.always(json_response({"text": "hello"}), path=f"{deployment}/audio/transcriptions")
    fake_server.always(json_response({"error": {"code": "404", "message": "Resource not found"}}, status=404))
    typed = f"{fake_server.origin}{deployment}/audio/transcriptions?api-version=2024-10-21&code=fn-doctor-secret"
    done = run_doctor("--base-url", typed, "--model", "whisper", "--type", "speech2text")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Base URL            {fake_server.origin}{deployment}?api-version=2024-10-21&code=***" in done.stdout
    assert "was corrected" in done.stdout  # the pasted endpoint path
    assert "fn-doctor-secret" not in done.stdout + done.stderr
    assert fake_server.requests and all(
        r.query == {"api-version": ["2024-10-21"], "code": ["fn-doctor-secret"]} for r in fake_server.requests
    )


def test_doctor_failure_shows_no_credential_from_the_query_string(fake_server):
    fake_server.always(Response(200, [("Content-Type", "text/html")], "<html><title>Sign in</title></html>"))
    typed = f"{fake_server.origin}/v1?key=sk-doctor-query-secret"
    done = run_doctor("--base-url", typed, "--model", "m", "--type", "embedding")
    assert done.returncode == 1 and "HTML page" in done.stdout
    assert "sk-doctor-query-secret" not in done.stdout + done.stderr


def test_doctor_reports_the_api_type_saving_would_find(fake_server):
    # /chat/completions 404, /responses answers: the same finding as saving, and what to choose
    fake_server.always(json_response({"object": "list", "data": [{"id": "m"}]}), path="/v1/models")
    fake_server.always(json_response({"detail": "Not Found"}, status=404), path="/v1/chat/completions")
    answer = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "model": "m",
        "output": [
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "pong"}],
            }
        ],
        "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
    }
    fake_server.always(json_response(answer), path="/v1/responses")
    done = run_doctor("--base-url", fake_server.base_url, "--model", "m")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"api_type\s+responses", done.stdout)
    assert "API type            Responses" in done.stdout
