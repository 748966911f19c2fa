#!/usr/bin/env python3
"""Generate a tiny BERT-architecture cross-encoder ("reranker") GGUF with seeded random
weights and an embedded WordPiece ("bert") tokenizer. No downloads.

llama.cpp serves it with ``llama-server --reranking`` (= ``--embedding --pooling rank``):
the rank pooling of a ``bert`` model takes the hidden state of the first token ([CLS]),
applies the classification head ``cls`` (dense n_embd x n_embd + bias, tanh) and
``cls.output`` (n_embd -> 1 + bias), and returns that one raw logit as the relevance
score (``src/llama-graph.cpp`` build_pooling, LLAMA_POOLING_TYPE_RANK; the tensors are
created in ``src/models/bert.cpp``). A ``bert`` model gets no softmax (only qwen3 does),
so scores are unbounded and may be negative or above 1.

The server builds each (query, document) prompt from the vocab's special tokens
(``tools/server/server-common.cpp`` format_prompt_rerank): ``[CLS] query [SEP] document``
for a WPM vocab with its defaults add_bos=true, add_sep=true, add_eos=false
(``src/llama-vocab.cpp``); this file also sets add_eos so that the prompt is the
BERT pair form ``[CLS] query [SEP] [SEP] document [SEP]`` that converted cross-encoders
use (EOS falls back to SEP when the vocab has none).

Vocab: [PAD] [UNK] [CLS] [SEP] [MASK], then every printable ASCII character as a
word-initial piece ("\u2581c", as llama.cpp's converter writes WordPiece vocabs) and as a
continuation piece ("c", WordPiece "##c"), then the most frequent words of a built-in
corpus (lowercase; the tokenizer lowercases by default). Any ASCII text tokenizes without
[UNK].

The weights are scaled so that the document actually moves the [CLS] state: different
documents get clearly different scores, deterministic for a given file.

Usage:
    python make_tiny_reranker.py OUT.gguf [--seed 0] [--n-embd 32] [--n-layer 2]
        [--n-head 2] [--n-ff 64] [--ctx 512] [--words 300]

Requires: pip install gguf==0.19.0 numpy
"""

from __future__ import annotations

import argparse
import collections
import re
import string

import gguf
import numpy as np

CORPUS = """
The quick brown fox jumps over the lazy dog. Hello, world! This is a tiny test
reranker for an OpenAI compatible server. It scores how relevant a document is to a
query. The weather in Paris is sunny today and the temperature is twenty degrees.
What is the capital of France? The capital of France is Paris. Berlin is the capital
of Germany. A panda is a bear that eats bamboo. Python is a programming language.
the and to of a in is that for it with as was on be at by this had not are but
from or have an they which one you were her all she there would their we him
been has when who will more no if out so said what up its about into than them
can only other new some could time these two may then do first any my now such
"""

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PHANTOM = "\u2581"  # word-initial marker of llama.cpp's WPM vocab


def build_vocab(n_words: int) -> tuple[list[str], list[int]]:
    tokens = list(SPECIALS)
    types = [gguf.TokenType.CONTROL] * len(SPECIALS)
    chars = [c for c in string.printable if not c.isspace() and not c.isupper()]
    for c in chars:
        tokens += [PHANTOM + c, c]
        types += [gguf.TokenType.NORMAL] * 2
    counts = collections.Counter(re.findall(r"[a-z]+", CORPUS.lower()))
    words = sorted((w for w in counts if len(w) > 1), key=lambda w: (-counts[w], w))[:n_words]
    for word in words:
        tokens.append(PHANTOM + word)
        types.append(gguf.TokenType.NORMAL)
    return tokens, types


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-embd", type=int, default=32)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-head", type=int, default=2)
    ap.add_argument("--n-ff", type=int, default=64)
    ap.add_argument("--ctx", type=int, default=512, help="position embeddings = longest prompt")
    ap.add_argument("--words", type=int, default=300, help="whole-word tokens from the corpus")
    ap.add_argument("--name", default="tiny-random-bert-reranker")
    args = ap.parse_args()

    tokens, toktypes = build_vocab(args.words)
    ids = {t: i for i, t in enumerate(tokens)}
    n_vocab = len(tokens)

    E, L, H, FF, CTX = args.n_embd, args.n_layer, args.n_head, args.n_ff, args.ctx
    assert E % H == 0
    rng = np.random.default_rng(args.seed)

    def rand(*shape: int, std: float) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.float32)

    w = gguf.GGUFWriter(args.out, "bert")
    w.add_name(args.name)
    w.add_context_length(CTX)
    w.add_embedding_length(E)
    w.add_block_count(L)
    w.add_feed_forward_length(FF)
    w.add_head_count(H)
    w.add_layer_norm_eps(1e-12)
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.RANK)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)

    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(toktypes)
    w.add_token_type_count(2)
    w.add_pad_token_id(ids["[PAD]"])
    w.add_unk_token_id(ids["[UNK]"])
    w.add_bos_token_id(ids["[CLS]"])  # llama.cpp calls BERT's [CLS] "BOS"
    w.add_sep_token_id(ids["[SEP]"])
    w.add_mask_token_id(ids["[MASK]"])
    w.add_add_bos_token(True)
    w.add_add_sep_token(True)
    w.add_add_eos_token(True)  # no EOS id: the server falls back to [SEP]

    # numpy shapes are (rows=out, cols=in); GGUF stores them reversed (ne0=in).
    # Unit-variance embeddings and 1/sqrt(E) projections: attention mixes the document
    # into the [CLS] row strongly enough that scores differ between documents.
    proj = 1.0 / np.sqrt(E)
    w.add_tensor("token_embd.weight", rand(n_vocab, E, std=1.0))
    w.add_tensor("token_types.weight", rand(2, E, std=0.1))
    w.add_tensor("position_embd.weight", rand(CTX, E, std=0.1))
    w.add_tensor("token_embd_norm.weight", ones(E))
    w.add_tensor("token_embd_norm.bias", zeros(E))
    for i in range(L):
        p = f"blk.{i}."
        for name in ("attn_q", "attn_k", "attn_v"):
            w.add_tensor(p + name + ".weight", rand(E, E, std=proj * 2))
            w.add_tensor(p + name + ".bias", rand(E, std=0.02))
        w.add_tensor(p + "attn_output.weight", rand(E, E, std=proj))
        w.add_tensor(p + "attn_output.bias", rand(E, std=0.02))
        w.add_tensor(p + "attn_output_norm.weight", ones(E))
        w.add_tensor(p + "attn_output_norm.bias", zeros(E))
        w.add_tensor(p + "ffn_up.weight", rand(FF, E, std=proj))
        w.add_tensor(p + "ffn_up.bias", rand(FF, std=0.02))
        w.add_tensor(p + "ffn_down.weight", rand(E, FF, std=1.0 / np.sqrt(FF)))
        w.add_tensor(p + "ffn_down.bias", rand(E, std=0.02))
        w.add_tensor(p + "layer_output_norm.weight", ones(E))
        w.add_tensor(p + "layer_output_norm.bias", zeros(E))
    # classification head (RoBERTa style): tanh(cls @ h + b) then the 1-logit projection
    w.add_tensor("cls.weight", rand(E, E, std=proj * 2))
    w.add_tensor("cls.bias", rand(E, std=0.1))
    w.add_tensor("cls.output.weight", rand(1, E, std=1.0))
    w.add_tensor("cls.output.bias", np.array([0.5], dtype=np.float32))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(
        f"wrote {args.out}: bert reranker, vocab={n_vocab} (WPM), n_embd={E}, n_layer={L}, "
        f"n_head={H}, n_ff={FF}, ctx={CTX}, seed={args.seed}"
    )


if __name__ == "__main__":
    main()
