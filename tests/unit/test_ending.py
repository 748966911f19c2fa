"""`transport.ending.release`: after a complete answer, the rest of the body is drained for at most
DRAIN_SECONDS by the wall clock, gevent-patched (as every plugin process runs) and not.

Each case runs in a fresh interpreter over a loopback server: one that holds the body open after
`[DONE]` (its connection must be closed, within the bound instead of the read timeout), one whose
body ends a moment after `[DONE]` (its connection must go back to the pool).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.support.shared import ROOT

SNIPPET = """
import json
import time

import httpx

from oai_bridge.transport.ending import DRAIN_SECONDS, release
from tests.support.fake_server import STALL, Delay, FakeServer, chat_chunk, sse_response

server = FakeServer()
events = [chat_chunk("a", role="assistant"), chat_chunk(finish_reason="stop")]
server.add(sse_response(events, then=STALL))  # held open after [DONE]
server.add(sse_response(events, then=Delay(0.1)))  # ends a moment after [DONE]
server.always(sse_response(events))
client = httpx.Client(timeout=60)  # the read timeout the old drain waited for
drains = []
for _ in range(2):
    with client.stream("POST", server.base_url + "/chat/completions", json={}) as response:
        texts = response.iter_text()
        for text in texts:
            if "[DONE]" in text:
                break
        started = time.monotonic()
        release(response, texts)
        drains.append(time.monotonic() - started)
client.post(server.base_url + "/chat/completions", json={}).read()
print(json.dumps({"bound": DRAIN_SECONDS, "drains": drains, "connections": [r.connection_id for r in server.requests]}))
server.stop()
"""


def _run(patched: bool) -> dict:
    import json

    code = ("import dify_plugin\n" if patched else "") + textwrap.dedent(SNIPPET)
    if not patched:  # nothing on the way may patch: `transport.ending` must work on plain sockets
        code += "\nimport sys; assert 'gevent' not in sys.modules, 'gevent was imported'\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("patched", [True, False], ids=["gevent", "plain"])
def test_a_held_body_is_cut_at_the_bound_and_a_finished_one_pooled(patched: bool) -> None:
    found = _run(patched)
    held, finished = found["drains"]
    # Cut by the wall clock: not before the bound, and nowhere near the 60 s read timeout.
    assert found["bound"] * 0.9 <= held < 20
    first, second, third = found["connections"]
    assert first != second  # the held connection was closed, not pooled
    assert second == third  # the one that ended within the bound was reused
    assert finished < held
