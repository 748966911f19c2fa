"""Throwaway SDK plugins in a temp folder, shaped like this repository's (same manifest, same
provider YAML with its whole credential form, the SDK's plain entry point), differing only in the
classes:

* ``minimal`` - trivial provider and model classes: the cold-start floor of a Dify SDK plugin.
* ``sdk_llm`` - the LLM class is the SDK's ``OAICompatLargeLanguageModel`` (``bench.baselines``),
  so the SDK's generic class can be driven through the same stdio runtime as this plugin.
* ``sdk_rerank`` - only a rerank model type, the SDK's ``OAICompatRerankModel``.
* ``minimal_stt`` - only a speech-to-text model type whose class answers without reading the file:
  what the SDK's own transport of an upload (hex in a JSON line) costs the plugin process.
* ``stdio_rerank``, ``stdio_embed`` - the classes of ``bench.stdio_floors``, which answer the
  rerank and multimodal-embedding calls without any HTTP: what Dify's stdio runtime alone costs.

The provider name stays ``openai_compatible_bridge`` so the same requests address all three.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

# This plugin's main.py also warms up its own package (`oai_bridge`), which these plugins lack: they
# get the SDK template's entry point, with the same `DifyPluginEnv()` settings.
_MAIN = """\
from dify_plugin import DifyPluginEnv, Plugin

plugin = Plugin(DifyPluginEnv())

if __name__ == "__main__":
    plugin.run()
"""

_MINIMAL_PROVIDER = """\
from dify_plugin import ModelProvider


class MinimalProvider(ModelProvider):
    def validate_provider_credentials(self, credentials: dict) -> None:
        del credentials
"""

_MINIMAL_LLM = """\
from dify_plugin import LargeLanguageModel
from dify_plugin.entities.model.llm import LLMResult


class MinimalLargeLanguageModel(LargeLanguageModel):
    def _invoke(self, model, credentials, prompt_messages, model_parameters, tools=None, stop=None,
                stream=True, user=None) -> LLMResult:
        raise NotImplementedError

    def get_num_tokens(self, model, credentials, prompt_messages, tools=None) -> int:
        return 0

    def validate_credentials(self, model, credentials) -> None:
        return None

    @property
    def _invoke_error_mapping(self) -> dict:
        return {}
"""

_MINIMAL_EMBEDDING = """\
from dify_plugin import TextEmbeddingModel


class MinimalTextEmbeddingModel(TextEmbeddingModel):
    def _invoke(self, model, credentials, texts, user=None, input_type=None):
        raise NotImplementedError

    def get_num_tokens(self, model, credentials, texts) -> list[int]:
        return [0 for _ in texts]

    def validate_credentials(self, model, credentials) -> None:
        return None

    @property
    def _invoke_error_mapping(self) -> dict:
        return {}
"""

# Appended (not prepended) to sys.path: the temp folder's own `models` package must win.
_SDK_LLM = """\
import sys

sys.path.append({repo!r})

from bench.baselines import BaselineLargeLanguageModel


class BenchSdkLargeLanguageModel(BaselineLargeLanguageModel):
    pass
"""


_SDK_RERANK = """\
import sys

sys.path.append({repo!r})

from bench.baselines import BaselineRerankModel


class BenchSdkRerankModel(BaselineRerankModel):
    pass
"""

_MINIMAL_STT = """\
from dify_plugin import Speech2TextModel


class MinimalSpeech2TextModel(Speech2TextModel):
    def _invoke(self, model, credentials, file, user=None) -> str:
        return ""

    def validate_credentials(self, model, credentials) -> None:
        return None

    @property
    def _invoke_error_mapping(self) -> dict:
        return {}
"""

_STDIO_RERANK = """\
import sys

sys.path.append({repo!r})

from bench.stdio_floors import StdioRerankModel


class BenchStdioRerankModel(StdioRerankModel):
    pass
"""

_STDIO_EMBED = """\
import sys

sys.path.append({repo!r})

from bench.stdio_floors import StdioTextEmbeddingModel


class BenchStdioTextEmbeddingModel(StdioTextEmbeddingModel):
    pass
"""

KINDS = ("minimal", "sdk_llm", "sdk_rerank", "minimal_stt", "stdio_rerank", "stdio_embed")
# Single-model-type plugins: kind -> (model type, source path, class module).
_SINGLE = {
    "sdk_rerank": ("rerank", "models/rerank/rerank.py", _SDK_RERANK),
    "minimal_stt": ("speech2text", "models/speech2text/speech2text.py", _MINIMAL_STT),
    "stdio_rerank": ("rerank", "models/rerank/rerank.py", _STDIO_RERANK),
    "stdio_embed": ("text-embedding", "models/text_embedding/text_embedding.py", _STDIO_EMBED),
}


def make_plugin(root: Path, kind: str, source: Path = REPO) -> Path:
    """Write a plugin of `kind` (one of `KINDS`) into `root`, shaped like the plugin at `source`,
    and return it."""
    if kind not in KINDS:
        raise ValueError(kind)
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.py").write_text(_MAIN, encoding="utf-8")
    shutil.copytree(source / "_assets", root / "_assets", dirs_exist_ok=True)
    if (source / "PRIVACY.md").exists():
        shutil.copy(source / "PRIVACY.md", root / "PRIVACY.md")

    manifest = yaml.safe_load((source / "manifest.yaml").read_text(encoding="utf-8"))
    manifest["name"] = f"bench_{kind}"
    provider_yaml = manifest["plugins"]["models"][0]
    provider = yaml.safe_load((source / provider_yaml).read_text(encoding="utf-8"))
    provider["extra"]["python"]["provider_source"] = "provider/bench_provider.py"
    sources = ["models/llm/llm.py"]
    if kind == "minimal":
        sources.append("models/text_embedding/text_embedding.py")
    elif kind in _SINGLE:
        provider["supported_model_types"] = [_SINGLE[kind][0]]
        sources = [_SINGLE[kind][1]]
    else:
        provider["supported_model_types"] = ["llm"]
    provider["extra"]["python"]["model_sources"] = sources

    (root / "provider").mkdir(exist_ok=True)
    (root / "provider" / "bench_provider.yaml").write_text(
        yaml.safe_dump(provider, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    manifest["plugins"]["models"] = ["provider/bench_provider.yaml"]
    (root / "manifest.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (root / "provider" / "bench_provider.py").write_text(_MINIMAL_PROVIDER, encoding="utf-8")

    if kind in _SINGLE:
        _, path, code = _SINGLE[kind]
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(code.format(repo=str(REPO)) if "{repo" in code else code, encoding="utf-8")
        return root
    llm_dir = root / "models" / "llm"
    llm_dir.mkdir(parents=True, exist_ok=True)
    if kind == "minimal":
        (llm_dir / "llm.py").write_text(_MINIMAL_LLM, encoding="utf-8")
        emb_dir = root / "models" / "text_embedding"
        emb_dir.mkdir(parents=True, exist_ok=True)
        (emb_dir / "text_embedding.py").write_text(_MINIMAL_EMBEDDING, encoding="utf-8")
    else:
        (llm_dir / "llm.py").write_text(_SDK_LLM.format(repo=str(REPO)), encoding="utf-8")
    return root
