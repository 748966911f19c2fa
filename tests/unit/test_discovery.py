"""normalize_base_url: what users paste -> the API root the OpenAI client joins paths onto.

A trailing slash gives `//chat/completions` (BerriAI/litellm#8350), and a pasted endpoint path
ends up doubled (langgenius/dify#2624).
"""

from __future__ import annotations

import pytest

from oai_bridge.config.settings import parse_settings
from oai_bridge.config.urls import base_query, display_url, normalize_base_url, with_query


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("http://h:11434/v1", "http://h:11434/v1"),
        ("http://h:11434/v1/", "http://h:11434/v1"),
        ("http://h:11434/v1///", "http://h:11434/v1"),
        ("  http://h:11434/v1/ \n", "http://h:11434/v1"),
    ],
)
def test_trailing_slashes_and_whitespace_are_removed(typed: str, expected: str) -> None:
    assert normalize_base_url(typed) == expected


@pytest.mark.parametrize("suffix", ["/chat/completions", "/completions", "/embeddings", "/models"])
@pytest.mark.parametrize("tail", ["", "/", "//"])
def test_pasted_endpoint_path_is_removed(suffix: str, tail: str) -> None:
    assert (
        normalize_base_url(f"http://host.docker.internal:8000/v1{suffix}{tail}")
        == "http://host.docker.internal:8000/v1"
    )


@pytest.mark.parametrize(
    "typed",
    [
        "http://h:8000/v1/Chat/Completions",
        "http://h:8000/v1/CHAT/COMPLETIONS/",
        "http://h:8000/v1/Embeddings",
        "http://h:8000/v1/MODELS",
    ],
)
def test_suffix_match_ignores_case_and_keeps_the_rest_as_typed(typed: str) -> None:
    assert normalize_base_url(typed) == "http://h:8000/v1"


def test_case_of_the_kept_part_is_preserved() -> None:
    assert normalize_base_url("https://Gateway.Example.com/OpenAI/V1/chat/completions") == (
        "https://Gateway.Example.com/OpenAI/V1"
    )


@pytest.mark.parametrize(
    "typed",
    [
        "http://h:11434",  # Ollama without /v1: not added here (probing decides)
        "http://h:8080/api/v1",
        "https://openrouter.ai/api/v1",
        "https://gateway.example.com/openai/deployments/gpt",
        "http://h:8000/v1/chat",  # a partial path is not an endpoint
        "http://h:8000/my-models",  # ends with "models" but not the /models endpoint
        "http://h:8000/v1/chat/completions-proxy",
    ],
)
def test_other_paths_are_left_alone_and_v1_is_not_added(typed: str) -> None:
    assert normalize_base_url(typed) == typed


@pytest.mark.parametrize("suffix", ["/rerank", "/reranking", "/score", "/responses", "/audio/translations"])
@pytest.mark.parametrize("tail", ["", "/", " ", "/ \n"])
@pytest.mark.parametrize("root", ["http://h:8000/v1", "http://h:8000/v2", "http://tei:8080"])
def test_pasted_rerank_score_and_responses_paths_are_removed(suffix: str, tail: str, root: str) -> None:
    # `…/v1/rerank` used to become `…/v1/rerank/rerank`; TEI's root `/rerank` leaves the root.
    assert normalize_base_url(f" {root}{suffix}{tail}") == root


@pytest.mark.parametrize(
    ("typed", "root", "query"),
    [
        ("http://h:8000/v1?api-version=2024-02-01", "http://h:8000/v1", (("api-version", "2024-02-01"),)),
        (
            "https://x.openai.azure.com/openai/deployments/d?api-version=2024-10-21",
            "https://x.openai.azure.com/openai/deployments/d",
            (("api-version", "2024-10-21"),),
        ),
        (  # a pasted endpoint path before the query, a trailing slash, spaces
            " https://x.openai.azure.com/openai/deployments/d/chat/completions/?api-version=2024-10-21 ",
            "https://x.openai.azure.com/openai/deployments/d",
            (("api-version", "2024-10-21"),),
        ),
        ("http://h/v1/?a=1&b=&a=2#frag", "http://h/v1", (("a", "1"), ("b", ""), ("a", "2"))),
        ("http://h/v1", "http://h/v1", ()),
    ],
)
def test_the_query_string_is_taken_out_of_the_root(typed: str, root: str, query: tuple) -> None:
    assert normalize_base_url(typed) == root
    assert base_query(typed) == query
    assert normalize_base_url(with_query(root, query)) == root and base_query(with_query(root, query)) == query


def test_credential_like_query_values_are_masked_for_display_and_counted_as_secrets() -> None:
    typed = "https://gw.example.com/v1?api-version=2024-10-21&api_key=sk-query-secret&code=fn-secret"
    shown = display_url(typed)
    assert "sk-query-secret" not in shown and "fn-secret" not in shown
    assert "api-version=2024-10-21" in shown
    settings = parse_settings("m", {"base_url": typed})
    assert settings.base_query[0] == ("api-version", "2024-10-21")
    assert {"sk-query-secret", "fn-secret"} <= set(settings.secrets)
    assert "2024-10-21" not in settings.secrets


@pytest.mark.parametrize("typed", ["http://h/v1/", "http://h/v1/chat/completions", " http://h/v1/models/ "])
def test_normalizing_twice_changes_nothing(typed: str) -> None:
    once = normalize_base_url(typed)
    assert normalize_base_url(once) == once
