"""The SDK's own OpenAI-compatible classes, subclassed as little as possible to run offline.

The only change: `_get_num_tokens_by_gpt2` calls `tiktoken.encoding_for_model("gpt2")`, which
downloads the GPT-2 vocabulary on first use, and this machine (like many air-gapped Dify
installs) cannot. It is replaced by ``len(text) // 4``, which costs next to nothing, so every
figure for these baselines is, if anything, FASTER than the real class. The call count is kept so
the report can say how often the real tokenizer would have run.

Importing this module imports dify_plugin, which gevent-monkey-patches the process.
"""

from __future__ import annotations

from dify_plugin.interfaces.model.openai_compatible.llm import OAICompatLargeLanguageModel
from dify_plugin.interfaces.model.openai_compatible.rerank import OAICompatRerankModel
from dify_plugin.interfaces.model.openai_compatible.text_embedding import OAICompatEmbeddingModel

__all__ = [
    "TOKENIZER_CALLS",
    "BaselineEmbeddingModel",
    "BaselineLargeLanguageModel",
    "BaselineRerankModel",
    "embedding_credentials",
    "llm_credentials",
]

TOKENIZER_CALLS = {"count": 0}


def _offline_gpt2_estimate(text: str) -> int:
    TOKENIZER_CALLS["count"] += 1
    return len(text) // 4


class BaselineLargeLanguageModel(OAICompatLargeLanguageModel):
    def _get_num_tokens_by_gpt2(self, text: str) -> int:
        return _offline_gpt2_estimate(text)


class BaselineEmbeddingModel(OAICompatEmbeddingModel):
    def _get_num_tokens_by_gpt2(self, text: str) -> int:
        return _offline_gpt2_estimate(text)


class BaselineRerankModel(OAICompatRerankModel):
    """Unchanged: the SDK's rerank class never tokenizes (one `requests.post` of every document)."""


def llm_credentials(base_url: str) -> dict:
    """The SDK class's form values for a plain chat endpoint (its own defaults elsewhere)."""
    return {
        "endpoint_url": base_url,
        "mode": "chat",
        "context_size": "4096",
        "max_tokens_to_sample": "4096",
        "stream_mode_delimiter": "\\n\\n",
        "function_calling_type": "no_call",
    }


def embedding_credentials(base_url: str) -> dict:
    return {"endpoint_url": base_url, "context_size": "8192"}
