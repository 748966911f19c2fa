"""The benchmarks' loopback OpenAI-shaped server, run as its own process so its CPU is not counted
in the client's: ``python -m bench.server`` prints ``PORT <n>`` and serves until its stdin closes
(or a hard time limit passes).

Stdlib asyncio only, and every body is pre-rendered: a chat stream is one cached bytes object
(or a cached list of HTTP chunks when paced), an embedding answer is a join of cached per-item
pieces. Routes (under any prefix, e.g. /v1):

* ``POST …/chat/completions`` - scenario from the model id (see ``bench.payloads``);
* ``POST …/responses`` - the same scenario as OpenAI's Responses API streams it (unpaced);
  ``stream: false`` gets a plain completion of the same text.
* ``POST …/embeddings`` - one vector per input, in order, honouring the batch size it is sent
  and ``encoding_format`` (``float`` or ``base64``), with ``usage``.
* ``POST …/embeddings`` with vLLM's chat-style ``messages`` body (a multimodal input, one per
  request) - one vector.
* ``POST …/rerank`` - Jina shape: ``results`` (``index``, ``relevance_score``, best first, cut to
  ``top_n`` when sent) and ``usage``, for any number of documents (strings or multimodal
  ``{"content": [parts]}``). A text document's score is a fixed function of the number in its
  ``Document <n>:`` head (``bench.payloads.rerank_score``), so a client's global order can be checked.
* ``POST …/audio/speech`` - audio (``ID3`` + filler) streamed in ``SPEECH_PIECES`` HTTP chunks of
  ``SPEECH_PIECE`` bytes, the first after ``SPEECH_FIRST_BYTE_S`` (the model's own time to first
  audio), the rest ``SPEECH_GAP_S`` apart; ``GET …/audio/voices`` - two voices.
* ``POST …/audio/transcriptions`` - reads the whole upload (``content-length`` or chunked) and
  answers ``{"text": …}``; ``/stats`` keeps the size of the last one.
* ``GET …/models`` - the ids given with ``--models`` plus every id asked for so far, vLLM-shaped.
* ``GET /stats`` - request counters, embedding batch sizes and encodings seen (for the report).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import threading

from bench.payloads import (
    Scenario,
    chat_events,
    chunked,
    embedding_vectors,
    expected_content,
    rerank_score,
    responses_answer,
    responses_events,
    vector_base64,
    vector_json,
)

SPEECH_FIRST_BYTE_S = 0.2
SPEECH_PIECE = 32 * 1024
SPEECH_PIECES = 8
SPEECH_GAP_S = 0.01
VOICES = ("alloy", "bench")
TRANSCRIPT = "The quick brown fox jumps over the lazy dog."
MAX_LIFETIME = 45 * 60  # seconds: the server stops by itself even if nobody closes it

_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


class Server:
    def __init__(self, models: list[str]) -> None:
        self.stats: dict = {
            "requests": 0,
            "chat": 0,
            "responses": 0,
            "embeddings": 0,
            "embedded_texts": 0,
            "connections": 0,
            "models_listed": 0,
            "embedding_batches": {},
            "embedding_encodings": {},
            "multimodal_embeddings": 0,
            "rerank": 0,
            "reranked_documents": 0,
            "rerank_batches": {},
            "speech": 0,
            "transcriptions": 0,
            "last_upload_bytes": 0,
        }
        audio = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * (SPEECH_PIECE * SPEECH_PIECES // 256)
        self._speech = [chunked(audio[k * SPEECH_PIECE : (k + 1) * SPEECH_PIECE]) for k in range(SPEECH_PIECES)]
        self.models = dict.fromkeys(models)
        self._whole: dict[str, bytes] = {}
        self._pieces: dict[str, list[bytes]] = {}
        vectors = embedding_vectors()
        self._vec = {"float": [vector_json(v) for v in vectors], "base64": [vector_base64(v) for v in vectors]}
        self._items: dict[tuple[str, int], bytes] = {}

    # -- chat ------------------------------------------------------------------------------
    def _stream_pieces(self, model: str, s: Scenario, api: str = "chat") -> list[bytes]:
        key = f"{api}:{model}"
        pieces = self._pieces.get(key)
        if pieces is None:
            events = responses_events(s) if api == "responses" else chat_events(s)
            pieces = [chunked(e) for e in events] + [b"0\r\n\r\n"]
            self._pieces[key] = pieces
            self._whole[key] = _SSE_HEAD + b"".join(pieces)
        return pieces

    async def _scenario(self, api: str, body: dict, writer: asyncio.StreamWriter) -> tuple[str, Scenario | None]:
        """The model a request names and its scenario (None: answered 404 already), counted."""
        self.stats[api] += 1
        model = str(body.get("model", ""))
        self.models[model] = None
        s = Scenario.parse(model)
        if s is None:
            await self.send_json(writer, 404, {"error": {"message": f"unknown bench model {model!r}"}})
        return model, s

    async def responses(self, body: dict, writer: asyncio.StreamWriter) -> None:
        """`POST /responses`, unpaced: the whole stream at once, or the blocking answer."""
        model, s = await self._scenario("responses", body, writer)
        if s is None:
            return
        if not body.get("stream"):
            await self.send_json(writer, 200, responses_answer(s))
            return
        self._stream_pieces(model, s, "responses")
        writer.write(self._whole[f"responses:{model}"])
        await writer.drain()

    async def chat(self, body: dict, writer: asyncio.StreamWriter) -> None:
        model, s = await self._scenario("chat", body, writer)
        if s is None:
            return
        if not body.get("stream"):
            await self.send_json(
                writer,
                200,
                {
                    "id": "chatcmpl-bench",
                    "object": "chat.completion",
                    "created": 0,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": expected_content(s)},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 12, "completion_tokens": s.deltas, "total_tokens": 12 + s.deltas},
                },
            )
            return
        pieces = self._stream_pieces(model, s)
        if s.interval_ms <= 0:
            writer.write(self._whole[f"chat:{model}"])
            await writer.drain()
            return
        # Paced like a real model: the role chunk at once, then one delta every interval, on a
        # fixed schedule (no drift); the finish, usage and [DONE] pieces follow the last delta.
        loop = asyncio.get_running_loop()
        interval = s.interval_ms / 1000
        writer.write(_SSE_HEAD + pieces[0])
        start = loop.time()
        last = len(pieces) - 4  # the index of the last delta piece
        for k in range(1, len(pieces)):
            if k <= last:
                delay = start + k * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            writer.write(pieces[k])
            if k <= last:
                await writer.drain()
        await writer.drain()

    # -- embeddings ------------------------------------------------------------------------
    def _item(self, fmt: str, index: int) -> bytes:
        item = self._items.get((fmt, index))
        if item is None:
            vec = self._vec[fmt][index % len(self._vec[fmt])]
            item = b'{"object":"embedding","index":%d,"embedding":%s}' % (index, vec)
            self._items[(fmt, index)] = item
        return item

    async def embeddings(self, body: dict, writer: asyncio.StreamWriter) -> None:
        if isinstance(body.get("messages"), list):  # vLLM's multimodal form: one input per request
            self.stats["multimodal_embeddings"] += 1
            await self.send_bytes(
                writer,
                200,
                b'{"object":"list","data":[%s],"model":%s,"usage":{"prompt_tokens":8,"total_tokens":8}}'
                % (self._item("float", 0), json.dumps(str(body.get("model", ""))).encode()),
            )
            return
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        fmt = body.get("encoding_format") or "float"
        if not isinstance(texts, list) or not texts or fmt not in self._vec:
            await self.send_json(writer, 400, {"error": {"message": "bad embeddings request"}})
            return
        self.stats["embeddings"] += 1
        self.stats["embedded_texts"] += len(texts)
        self.models[str(body.get("model", ""))] = None
        sizes, encodings = self.stats["embedding_batches"], self.stats["embedding_encodings"]
        sizes[str(len(texts))] = sizes.get(str(len(texts)), 0) + 1
        encodings[fmt] = encodings.get(fmt, 0) + 1
        tokens = sum(len(t) for t in texts if isinstance(t, str)) // 4
        payload = b"".join(
            (
                b'{"object":"list","data":[',
                b",".join([self._item(fmt, i) for i in range(len(texts))]),
                b'],"model":%s,"usage":{"prompt_tokens":%d,"total_tokens":%d}}'
                % (json.dumps(str(body.get("model", ""))).encode(), tokens, tokens),
            )
        )
        await self.send_bytes(writer, 200, payload)

    # -- rerank ----------------------------------------------------------------------------
    async def rerank(self, body: dict, writer: asyncio.StreamWriter) -> None:
        docs = body.get("documents")
        if not isinstance(docs, list) or not docs or not body.get("query"):
            await self.send_json(writer, 400, {"error": {"message": "bad rerank request"}})
            return
        self.stats["rerank"] += 1
        self.stats["reranked_documents"] += len(docs)
        sizes = self.stats["rerank_batches"]
        sizes[str(len(docs))] = sizes.get(str(len(docs)), 0) + 1
        self.models[str(body.get("model", ""))] = None
        scored = sorted(((rerank_score(d) if isinstance(d, str) else 0.5, i) for i, d in enumerate(docs)), reverse=True)
        top_n = body.get("top_n")
        if isinstance(top_n, int) and top_n > 0:
            scored = scored[:top_n]
        tokens = sum(len(d) for d in docs if isinstance(d, str)) // 4
        results = b",".join(b'{"index":%d,"relevance_score":%r}' % (i, s) for s, i in scored)
        payload = b'{"id":"rerank-bench","model":%s,"usage":{"prompt_tokens":%d,"total_tokens":%d},"results":[%s]}' % (
            json.dumps(str(body.get("model", ""))).encode(),
            tokens,
            tokens,
            results,
        )
        await self.send_bytes(writer, 200, payload)

    # -- audio -----------------------------------------------------------------------------
    async def speech(self, body: dict, writer: asyncio.StreamWriter) -> None:
        if not body.get("input") or not body.get("voice"):
            await self.send_json(writer, 400, {"error": {"message": "bad speech request"}})
            return
        self.stats["speech"] += 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\ntransfer-encoding: chunked\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(SPEECH_FIRST_BYTE_S)
        for k, piece in enumerate(self._speech):
            if k:
                await asyncio.sleep(SPEECH_GAP_S)
            writer.write(piece)
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def transcription(self, raw: bytes, writer: asyncio.StreamWriter) -> None:
        self.stats["transcriptions"] += 1
        self.stats["last_upload_bytes"] = len(raw)
        await self.send_json(writer, 200, {"text": TRANSCRIPT})

    def model_list(self) -> dict:
        self.stats["models_listed"] += 1
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "bench", "root": m, "max_model_len": 32768}
            for m in self.models
        ]
        return {"object": "list", "data": data}

    # -- plumbing --------------------------------------------------------------------------
    async def send_bytes(self, writer: asyncio.StreamWriter, status: int, payload: bytes) -> None:
        head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % (
            status,
            b"OK" if status == 200 else b"Error",
            len(payload),
        )
        writer.write(head + payload)
        await writer.drain()

    async def send_json(self, writer: asyncio.StreamWriter, status: int, obj: object) -> None:
        await self.send_bytes(writer, status, json.dumps(obj).encode())

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats["connections"] += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                close = chunked_body = False
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "connection" and value.strip().lower() == "close":
                        close = True
                    elif name == "transfer-encoding" and "chunked" in value.lower():
                        chunked_body = True
                raw = (
                    await _read_chunked(reader) if chunked_body else await reader.readexactly(length) if length else b""
                )
                self.stats["requests"] += 1
                path = path.split("?", 1)[0].rstrip("/")
                if method == "POST" and path.endswith("/chat/completions"):
                    await self.chat(json.loads(raw), writer)
                elif method == "POST" and path.endswith("/responses"):
                    await self.responses(json.loads(raw), writer)
                elif method == "POST" and path.endswith("/embeddings"):
                    await self.embeddings(json.loads(raw), writer)
                elif method == "POST" and path.endswith("/audio/speech"):
                    await self.speech(json.loads(raw), writer)
                elif method == "POST" and path.endswith("/audio/transcriptions"):
                    await self.transcription(raw, writer)
                elif method == "GET" and path.endswith("/audio/voices"):
                    await self.send_json(writer, 200, {"voices": list(VOICES)})
                elif method == "POST" and path.endswith("/rerank"):
                    await self.rerank(json.loads(raw), writer)
                elif method == "GET" and path.endswith("/models"):
                    await self.send_json(writer, 200, self.model_list())
                elif method == "GET" and path == "/stats":
                    await self.send_json(writer, 200, self.stats)
                else:
                    await self.send_json(writer, 404, {"error": {"message": f"no route {method} {path}"}})
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A request body sent with ``transfer-encoding: chunked``."""
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if not size:
            await reader.readuntil(b"\r\n")  # no trailers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _exit_when_stdin_closes() -> None:
    with contextlib.suppress(Exception):
        while sys.stdin.buffer.read(4096):
            pass
    os._exit(0)


async def _main(host: str, port: int, models: list[str]) -> None:
    server = Server(models)
    srv = await asyncio.start_server(server.handle, host, port, backlog=512, limit=1 << 20)
    bound = srv.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    async with srv:
        await asyncio.sleep(MAX_LIFETIME)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--models", default="", help="comma-separated model ids for GET /models")
    args = parser.parse_args()
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.host, args.port, [m for m in args.models.split(",") if m]))


if __name__ == "__main__":
    main()
