"""Rerank documents longer than the server takes: what to try next after a "too long" refusal.

In order: the server's own truncation where its shape offers it (`shapes.SERVER_TRUNCATION`),
then the plugin cuts each over-long document to the token limit the server states (its refusal's
words, `errors.wording.STATED_TOKEN_LIMIT`, else the context saved at detection), leaving room
for the query, and once more at half that cut. Cuts use the offline estimate (`oai_bridge.tokens`),
scaled up when the refusal says the server counted more tokens than estimated. A cut document is
scored on its head; Dify still gets its whole text back (results carry indices, not the text sent).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from oai_bridge.errors.wording import STATED_INPUT_TOKENS, STATED_TOKEN_LIMIT
from oai_bridge.rerank.shapes import SERVER_TRUNCATION, Document, Shape
from oai_bridge.tokens import estimate_text, truncate_to_tokens

__all__ = ["PAIR_OVERHEAD", "Fit", "fitted", "next_fit", "stated"]

# A cross-encoder reads `[CLS] query [SEP] [SEP] document [SEP]`: four tokens besides the texts.
PAIR_OVERHEAD = 4
# Below this a cut leaves nothing worth scoring (a query that fills the context): the refusal stands.
MIN_DOCUMENT_TOKENS = 8


@dataclass(frozen=True)
class Fit:
    """How one batch is sent: with the server's truncation fields, and cut to `limit` tokens a
    pair (halved on the retry) by the plugin, `scale` server tokens counted per estimated one. The
    default sends documents as they are."""

    server: bool = False
    limit: int | None = None
    scale: float = 1.0
    smaller: bool = False

    def budget(self, query: Document) -> int | None:
        """Estimated tokens a document may keep; None when the plugin does not cut."""
        if self.limit is None:
            return None
        room = int((self.limit - PAIR_OVERHEAD) / self.scale) - _tokens(query)
        room = room // 2 if self.smaller else room
        return room if room >= MIN_DOCUMENT_TOKENS else None


def _tokens(document: Document) -> int:
    return estimate_text(document) if isinstance(document, str) else 0


def stated(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    """The first number one of `patterns` finds in a refusal; None when it says none."""
    for pattern in patterns:
        if match := pattern.search(text):
            return int(match.group(1)) or None
    return None


def _over(document: Document, budget: int) -> bool:
    return isinstance(document, str) and estimate_text(document) > budget


def fitted(fit: Fit, query: Document, documents: Sequence[Document]) -> tuple[list[Document], int]:
    """The documents as sent under `fit`, and how many were cut (images never are)."""
    budget = fit.budget(query)
    if budget is None:
        return list(documents), 0
    sent = [truncate_to_tokens(d, budget) if _over(d, budget) else d for d in documents]  # type: ignore[arg-type]
    return sent, sum(1 for d in documents if _over(d, budget))


def next_fit(
    fit: Fit, shape: Shape, refusal: str, known_context: int | None, query: Document, documents: Sequence[Document]
) -> Fit | None:
    """What to try after `refusal` ("too long") of `documents` sent under `fit`; None when nothing
    is left to try. A cut that would change no document is skipped."""
    _, always = SERVER_TRUNCATION[shape]
    if not fit.server and not always:
        return replace(fit, server=True)
    # The server's count of the refused input against the estimate of the longest pair sent.
    counted = stated(STATED_INPUT_TOKENS, refusal)
    longest = max((_tokens(d) for d in fitted(fit, query, documents)[0]), default=0)
    scale = max(fit.scale, counted / (_tokens(query) + longest + PAIR_OVERHEAD)) if counted and longest else fit.scale
    steps: list[Fit] = []
    if fit.limit is None:
        limit = stated(STATED_TOKEN_LIMIT, refusal) or known_context
        if limit is None:
            return None
        steps = [replace(fit, limit=limit, scale=scale), replace(fit, limit=limit, scale=scale, smaller=True)]
    elif not fit.smaller:
        steps = [replace(fit, scale=scale, smaller=True)]
    for step in steps:
        budget = step.budget(query)
        if budget is not None and any(_over(d, budget) for d in documents):
            return step
    return None
