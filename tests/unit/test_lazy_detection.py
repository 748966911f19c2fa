"""`discovery.detect.lazy_detected`: a model saved without findings is detected once per process,
and N concurrent first calls (a burst of chats, each asking for the schema) share that one
detection instead of running N (each several small generations on the user's GPU server). The
pytest process is gevent-patched like the plugin (tests/conftest.py), so these callers are
greenlets, as the SDK's request workers are."""

from __future__ import annotations

import gevent
import pytest

from oai_bridge.adapter.base import settings_for
from oai_bridge.discovery.detect import lazy_detected
from tests.support.fake_server import Delay, FakeServer, Response, chat_completion, json_response

pytestmark = pytest.mark.timeout(60)


def serve_a_chat_model(server: FakeServer) -> None:
    # /models answers after a moment, so that the burst's callers all arrive during detection.
    models = b'{"object": "list", "data": [{"id": "m", "max_model_len": 4096}]}'
    server.always(Response(200, [("content-type", "application/json")], pieces=[Delay(0.2), models]), path="/v1/models")
    server.always(json_response(chat_completion("pong")), path="/v1/chat/completions")


def test_a_burst_of_first_calls_runs_one_detection(fake_server: FakeServer) -> None:
    serve_a_chat_model(fake_server)
    settings = settings_for("m", {"base_url": fake_server.base_url, "mode": "chat", "max_retries": "0"})
    burst = [gevent.spawn(lazy_detected, settings, "chat") for _ in range(8)]
    gevent.joinall(burst, raise_error=True)
    assert len(fake_server.requests_to("/v1/models")) == 1
    assert all(g.value == burst[0].value for g in burst)
    assert burst[0].value.context_size == 4096
    chats = len(fake_server.requests_to("/v1/chat/completions"))
    assert chats >= 1
    # Later calls use what was found: no request at all.
    assert lazy_detected(settings, "chat") == burst[0].value
    assert len(fake_server.requests_to("/v1/chat/completions")) == chats
