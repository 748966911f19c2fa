"""Dify's multimodal content -> what servers take for an image. Pure; never fetches anything.

Dify hands an image as a data URI, an http(s) URL (the server fetches it, the plugin never
does) or bare base64; bare base64 becomes a data URI with the type read from its first bytes.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["bare_base64", "image_uri"]

_MAGIC = (
    (b"\x89PNG", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),
    (b"BM", "image/bmp"),
)


def image_uri(content: str) -> str:
    """A URL a vision server accepts in an `image_url` part: data URIs and http(s) URLs as given,
    bare base64 wrapped into a data URI."""
    text = content.strip()
    if text.startswith("data:") or text.lower().startswith(("http://", "https://")):
        return text
    try:
        head = base64.b64decode(text[:64] + "=" * (-len(text[:64]) % 4))
    except (binascii.Error, ValueError):
        head = b""
    mime = next((kind for magic, kind in _MAGIC if head.startswith(magic)), "image/png")
    return f"data:{mime};base64,{text}"


def bare_base64(content: str) -> str:
    """The image as bare base64 (Jina's `image` field), or the http(s) URL as given."""
    uri = image_uri(content)
    return uri.split(",", 1)[1] if uri.startswith("data:") and "," in uri else uri
