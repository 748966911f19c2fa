"""Base URLs as people paste them (issue 20), through Dify's stdio runtime against a loopback
server that records the path and query string of every request.

An Azure-style base URL carries its `api-version` as a query string
(`https://x.openai.azure.com/openai/deployments/d?api-version=2024-10-21`): it is taken out of the
base and sent with every request of every model type, the discovery GETs and save-time probes
included. Azure answers a path it does not serve (and `/models` under a deployment) with 404
`{"error": {"code": "404", "message": "Resource not found"}}`, and a deployment that does not exist
with 404 `DeploymentNotFound`.
"""

from __future__ import annotations

import json
import struct

import pytest

from tests.support.fake_server import (
    FakeServer,
    RecordedRequest,
    Response,
    chat_chunk,
    chat_completion,
    embeddings_body,
    json_response,
    sse_response,
)

pytestmark = pytest.mark.timeout(180)

DEPLOYMENT = "/openai/deployments/d"
API_VERSION = "2024-10-21"
# A credential passed in the query string (an Azure Functions `code`): never shown.
QUERY_SECRET = "fn-query-secret-7d1e2f"
RESOURCE_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
DEPLOYMENT_NOT_FOUND = {
    "error": {
        "code": "DeploymentNotFound",
        "message": "The API deployment for this resource does not exist. If you created the deployment "
        "within the last 5 minutes, please wait a moment and try again.",
    }
}


def _wav() -> bytes:
    samples = b"\x00\x00" * 800
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) + b"data" + struct.pack("<I", len(samples))
    return header + samples


def _chat(request: RecordedRequest) -> Response:
    if (request.json or {}).get("stream"):
        return sse_response([chat_chunk("ok", role="assistant"), chat_chunk(finish_reason="stop")])
    return json_response(chat_completion("ok"))


def _rerank(request: RecordedRequest) -> Response:
    documents = request.json["documents"]
    results = [{"index": i, "relevance_score": 0.9 - i / 10} for i in range(len(documents))]
    return json_response({"model": "d", "results": results, "usage": {"total_tokens": 9}})


def _embeddings(request: RecordedRequest) -> Response:
    texts = (request.json or {}).get("input")
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):  # image forms probed at save
        return json_response({"error": {"code": "BadRequest", "message": "'input' is invalid"}}, status=400)
    return json_response(embeddings_body([[0.6, 0.8]] * len(texts)))


def azure_like(server: FakeServer) -> FakeServer:
    """Every model type's endpoint under the deployment; everything else 404 as Azure says it."""
    at = DEPLOYMENT
    server.always(_chat, path=f"{at}/chat/completions")
    choice = {"index": 0, "text": "ok", "finish_reason": "stop"}
    completion = {"id": "c", "object": "text_completion", "choices": [choice]}
    server.always(json_response(completion), path=f"{at}/completions")
    server.always(_embeddings, path=f"{at}/embeddings")
    server.always(_rerank, path=f"{at}/rerank")
    server.always(json_response({"text": "hello"}), path=f"{at}/audio/transcriptions")
    server.always(Response(200, [("Content-Type", "audio/wav")], _wav()), path=f"{at}/audio/speech")
    server.always(json_response(RESOURCE_NOT_FOUND, status=404))
    return server


def base(server: FakeServer, tail: str = "") -> str:
    return f"{server.origin}{DEPLOYMENT}{tail}?api-version={API_VERSION}&code={QUERY_SECRET}"


def validate(plugin, creds, model_type):
    return plugin.invoke("validate_model_credentials", model="d", credentials=creds, model_type=model_type)


def calls(plugin, creds):
    """One real call of each model type with the saved credentials of that type."""
    yield (
        "llm",
        plugin.invoke(
            "invoke_llm",
            model="d",
            credentials=creds["llm"],
            prompt_messages=[{"role": "user", "content": "hi"}],
            model_parameters={"max_tokens": 8},
            stream=True,
        ),
    )
    yield (
        "completion",
        plugin.invoke(
            "invoke_llm",
            model="d",
            credentials=creds["completion"],
            prompt_messages=[{"role": "user", "content": "hi"}],
            model_parameters={"max_tokens": 8},
            stream=False,
        ),
    )
    yield (
        "text-embedding",
        plugin.invoke(
            "invoke_text_embedding", model="d", credentials=creds["text-embedding"], texts=["a"], input_type="document"
        ),
    )
    yield (
        "rerank",
        plugin.invoke(
            "invoke_rerank",
            model="d",
            model_type="rerank",
            credentials=creds["rerank"],
            query="q",
            docs=["a", "b"],
            top_n=None,
            score_threshold=None,
        ),
    )
    yield (
        "speech2text",
        plugin.invoke(
            "invoke_speech2text",
            model="d",
            model_type="speech2text",
            file=_wav().hex(),
            credentials=creds["speech2text"],
        ),
    )
    yield (
        "tts",
        plugin.invoke(
            "invoke_tts",
            model="d",
            model_type="tts",
            tenant_id="t",
            content_text="Hi.",
            voice="alloy",
            credentials=creds["tts"],
        ),
    )


FORMS = {
    "llm": ("llm", {}),
    "completion": ("llm", {"mode": "completion"}),
    "text-embedding": ("text-embedding", {}),
    "rerank": ("rerank", {}),
    "speech2text": ("speech2text", {}),
    "tts": ("tts", {}),
}


@pytest.mark.parametrize("tail", ["", "/", "/chat/completions"])
def test_the_query_string_goes_with_every_request_of_every_model_type(plugin, fake_server, tail):
    azure_like(fake_server)
    saved = {}
    for name, (model_type, form) in FORMS.items():
        answer = validate(plugin, {"base_url": base(fake_server, tail), "api_key": "k", **form}, model_type)
        saved[name] = answer.raise_for_error().result["credentials"]
    for name, result in calls(plugin, saved):
        assert result.error is None, (name, result.error)
    paths = {r.path for r in fake_server.requests}
    for path in ("models", "chat/completions", "completions", "embeddings", "rerank", "audio/transcriptions"):
        assert f"{DEPLOYMENT}/{path}" in paths, (path, sorted(paths))
    assert f"{DEPLOYMENT}/audio/speech" in paths and f"{DEPLOYMENT}/audio/voices" in paths
    for request in fake_server.requests:
        assert request.path.startswith(DEPLOYMENT + "/"), request.target
        assert request.query == {"api-version": [API_VERSION], "code": [QUERY_SECRET]}, request.target
    assert not fake_server.errors


def test_a_corrected_base_url_keeps_its_query_string(plugin, fake_server):
    # No /v1 typed, the server answers under /v1: the saved base URL gets /v1 and keeps the query.
    fake_server.always(json_response({"object": "list", "data": [{"id": "d"}]}), path="/v1/models")
    fake_server.always(_chat, path="/v1/chat/completions")
    fake_server.always(json_response(RESOURCE_NOT_FOUND, status=404))
    typed = f"{fake_server.origin}?api-version={API_VERSION}"
    saved = validate(plugin, {"base_url": typed}, "llm").raise_for_error().result["credentials"]
    assert saved["base_url"] == f"{fake_server.origin}/v1?api-version={API_VERSION}"
    assert all(r.query == {"api-version": [API_VERSION]} for r in fake_server.requests)


def test_a_deployment_that_does_not_exist_reads_as_such_and_no_query_secret_is_shown(plugin, fake_server):
    fake_server.always(json_response(DEPLOYMENT_NOT_FOUND, status=404), path=f"{DEPLOYMENT}/chat/completions")
    fake_server.always(json_response(RESOURCE_NOT_FOUND, status=404))
    result = plugin.invoke(
        "invoke_llm",
        model="gpt-4o",
        credentials={"base_url": base(fake_server), "api_key": "k"},
        prompt_messages=[{"role": "user", "content": "hi"}],
        model_parameters={"max_tokens": 8},
        stream=True,
    )
    assert result.error_type == "InvokeBadRequestError"
    message = result.error["message"]
    assert "The API deployment for this resource does not exist" in message
    assert "deployment name in the base URL" in message
    assert "/v1" not in message  # not the generic "most servers expect /v1" hint
    assert QUERY_SECRET not in json.dumps(result.error)
    assert QUERY_SECRET not in json.dumps(plugin.logs)
