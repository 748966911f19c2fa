"""What the docs quote is what users see: messages produced for real, through the plugin over
stdio, against the real llama-server, compared with the text of the pages that quote them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.llama_server import LlamaServer

pytestmark = pytest.mark.llama

DOCS = Path(__file__).resolve().parents[2] / "docs"


def page(name: str) -> str:
    """The page with whitespace collapsed and Markdown emphasis removed."""
    return re.sub(r"\s+", " ", (DOCS / name).read_text(encoding="utf-8")).replace("**", "")


def embed(plugin, base_url: str, texts: list[str]):
    return plugin.invoke(
        "invoke_text_embedding",
        model="tiny",
        credentials={"base_url": base_url},
        texts=texts,
        input_type="document",
        timeout=120,
    )


def test_pooling_none_message_is_quoted_as_users_see_it(plugin_factory, tmp_path):
    with LlamaServer.start(log_dir=tmp_path, extra_args=("--pooling", "none")) as server:
        plugin = plugin_factory()
        answer = embed(plugin, server.base_url, ["hello"])
        saved = plugin.invoke(
            "validate_model_credentials",
            model="tiny",
            model_type="text-embedding",
            credentials={"base_url": server.base_url},
        )
    message = answer.error["message"]
    assert answer.error_type == "InvokeBadRequestError"
    assert saved.error["message"] == message
    assert "Pooling type 'none' is not OAI compatible" in message
    assert message.rstrip(".") in page("servers/llama-cpp.md")
    assert "Pooling type 'none' is not OAI compatible" in page("troubleshooting.md")


def test_too_long_input_message_is_quoted_as_users_see_it(plugin, llama_server):
    answer = embed(plugin, llama_server.base_url, ["short", "word " * 3000])
    message = answer.error["message"]
    assert answer.error_type == "InvokeBadRequestError", answer.error
    quoted = re.sub(r"#\d+ \(\d+ characters\)", "#N (… characters)", message).split(";")[0]
    assert "#N (… characters)" in quoted, message
    for name in ("troubleshooting.md", "servers/llama-cpp.md"):
        assert quoted in page(name), name
    assert "Embedding failed" not in page("troubleshooting.md")
