"""Multimodal embeddings (text and images) for servers that embed images, in the form the server
takes: vLLM's chat-style `messages` body (one input per request, run concurrently) or Jina's
`input` objects (`{"text": ...}` / `{"image": ...}`, batched). Which form is detected at save
(`detect_form`, called by the "embedding" ping in `discovery.detect`) or set in the form
(`multimodal_input`). Text-only calls take the ordinary path.
Images are never fetched by the plugin: URLs go to the server as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from oai_bridge.config.settings import Settings
from oai_bridge.embeddings.embed import PARALLEL_BATCHES, batches, embed_texts, parse_embeddings, prepare_texts
from oai_bridge.embeddings.media import bare_base64, image_uri
from oai_bridge.errors.kinds import (
    ConnectionDroppedError,
    ConnectionFailedError,
    ServerStatusError,
    UnsendableInputError,
)
from oai_bridge.tokens import estimate_text
from oai_bridge.transport.send import post_json

__all__ = ["FORMS", "Part", "detect_form", "embed_parts", "image_form", "takes_images"]

FORMS = ("messages", "jina")
# (content type "text" | "image", content): Dify's MultiModalContent, without the SDK.
Part = tuple[str, str]
_PROBE_IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def image_form(settings: Settings) -> str:
    """ "messages", "jina" or "off": the form's choice, else what was detected at save, else off."""
    if settings.multimodal_input != "auto":
        return settings.multimodal_input
    detected = settings.detected.value("multimodal_input")
    return detected if detected in FORMS else "off"


def takes_images(settings: Settings) -> bool:
    return image_form(settings) != "off"


def _messages_body(settings: Settings, part: Part) -> dict[str, Any]:
    kind, content = part
    piece = (
        {"type": "image_url", "image_url": {"url": image_uri(content)}}
        if kind == "image"
        else {"type": "text", "text": content}
    )
    body = {
        "model": settings.endpoint_model,
        "messages": [{"role": "user", "content": [piece]}],
        "encoding_format": "float",
    }
    body.update(settings.extra_body)
    return body


def _jina_body(settings: Settings, parts: Sequence[Part]) -> dict[str, Any]:
    inputs = [{"image": bare_base64(c)} if kind == "image" else {"text": c} for kind, c in parts]
    body = {"model": settings.endpoint_model, "input": inputs}
    body.update(settings.extra_body)
    return body


def _post(settings: Settings, body: dict[str, Any], count: int) -> tuple[list[list[float]], int | None]:
    return parse_embeddings(post_json(settings, "/embeddings", body), count)


def detect_form(settings: Settings) -> str:
    """Embed a 1x1 image in each form; the first the server answers with one vector wins, else off."""
    quick = replace(settings, max_retries=0)
    probes = {
        "messages": lambda: _post(quick, _messages_body(quick, ("image", _PROBE_IMAGE)), 1),
        "jina": lambda: _post(quick, _jina_body(quick, [("image", _PROBE_IMAGE)]), 1),
    }
    for form, probe in probes.items():
        try:
            vectors, _ = probe()
        except (ServerStatusError, ConnectionFailedError, ConnectionDroppedError, ValueError):  # malformed: ValueError
            continue
        if vectors and vectors[0]:
            return form
    return "off"


def _estimate(parts: Sequence[Part]) -> int:
    return sum(estimate_text(content) for kind, content in parts if kind == "text")


def embed_parts(settings: Settings, parts: Sequence[Part], prefix: str = "") -> tuple[list[list[float]], int]:
    """One vector per part, in order, and the tokens used (the server's, else estimated for the
    text; images are not counted). The prefix goes before every text."""
    texts = prepare_texts([c for kind, c in parts if kind == "text"], prefix, max_tokens=settings.known_context_size)
    if len(texts) == len(parts):
        return embed_texts(settings, texts)
    form = image_form(settings)
    if form == "off":
        raise UnsendableInputError(
            "This embedding model was saved as text-only: its server did not embed an image at save. "
            "Serve a multimodal embedding model (vLLM, Jina) or set `multimodal_input`."
        )
    prepared = iter(texts)
    parts = [(kind, next(prepared) if kind == "text" else content) for kind, content in parts]
    jobs: list[tuple[int, Sequence[Part], dict[str, Any]]]
    if form == "messages":  # one input per request
        jobs = [(i, parts[i : i + 1], _messages_body(settings, parts[i])) for i in range(len(parts))]
    else:
        jobs = [(i, chunk, _jina_body(settings, chunk)) for i, chunk in batches(parts, settings.max_chunks)]

    def run(job: tuple[int, Sequence[Part], dict[str, Any]]) -> tuple[list[list[float]], int]:
        _, chunk, body = job
        vectors, tokens = _post(settings, body, len(chunk))
        return vectors, tokens if tokens is not None else _estimate(chunk)

    with ThreadPoolExecutor(max_workers=min(PARALLEL_BATCHES, len(jobs))) as pool:
        results = list(pool.map(run, jobs))
    return [v for vectors, _ in results for v in vectors], sum(tokens for _, tokens in results)
