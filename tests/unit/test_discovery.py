"""normalize_base_url: what users paste -> the API root the OpenAI client joins paths onto.

A trailing slash gives `//chat/completions` (BerriAI/litellm#8350), and a pasted endpoint path
ends up doubled (langgenius/dify#2624).
"""

from __future__ import annotations

import pytest

from oai_bridge.config.urls import normalize_base_url


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


def test_query_of_the_root_is_not_touched() -> None:
    assert normalize_base_url("http://h:8000/v1?api-version=2024-02-01") == "http://h:8000/v1?api-version=2024-02-01"


@pytest.mark.parametrize("typed", ["http://h/v1/", "http://h/v1/chat/completions", " http://h/v1/models/ "])
def test_normalizing_twice_changes_nothing(typed: str) -> None:
    once = normalize_base_url(typed)
    assert normalize_base_url(once) == once
