"""Rerank documents longer than the server takes: what to try next after a "too long" refusal.

In order: the server's own truncation where its shape offers it (`shapes.SERVER_TRUNCATION`),
then the plugin cuts each over-long document to the token limit the server states (its refusal's
words, `errors.wording.STATED_TOKEN_LIMIT`, else the context saved at detection), leaving room
for the query, and once more at half that cut. A cut document is scored on its head; Dify still
gets its whole text back (results carry indices, not the text sent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from oai_bridge.errors.wording import STATED_TOKEN_LIMIT
from oai_bridge.rerank.shapes import SERVER_TRUNCATION, Document, Shape
from oai_bridge.tokens import estimate_text, truncate_to_tokens

__all__ = ["PAIR_OVERHEAD", "Fit", "fitted", "next_fit", "stated_limit"]

# A cross-encoder reads `[CLS] query [SEP] [SEP] document [SEP]`: four tokens besides the texts.
PAIR_OVERHEAD = 4
# Below this a cut leaves nothing worth scoring (a query that fills the context): the refusal stands.
MIN_DOCUMENT_TOKENS = 8


@dataclass(frozen=True)
class Fit:
    """How one batch is sent: with the server's truncation fields, and cut to `limit` tokens a
    pair (halved on the retry) by the plugin. The default sends documents as they are."""

    server: bool = False
    limit: int | None = None
    smaller: bool = False

    def budget(self, query: Document) -> int | None:
        """Tokens a document may keep; None when the plugin does not cut."""
        if self.limit is None:
            return None
        room = self.limit - (estimate_text(query) if isinstance(query, str) else 0) - PAIR_OVERHEAD
        room = room // 2 if self.smaller else room
        return room if room >= MIN_DOCUMENT_TOKENS else None


def stated_limit(text: str) -> int | None:
    """The tokens a pair may have, as a refusal states it; None when it does not say."""
    for pattern in STATED_TOKEN_LIMIT:
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
    """What to try after `refusal` ("too long") under `fit`; None when nothing is left to try.
    A cut that would change no document is skipped."""
    _, always = SERVER_TRUNCATION[shape]
    if not fit.server and not always:
        return replace(fit, server=True)
    steps: list[Fit] = []
    if fit.limit is None:
        limit = stated_limit(refusal) or known_context
        if limit is None:
            return None
        steps = [replace(fit, limit=limit), replace(fit, limit=limit, smaller=True)]
    elif not fit.smaller:
        steps = [replace(fit, smaller=True)]
    for step in steps:
        budget = step.budget(query)
        if budget is not None and any(_over(d, budget) for d in documents):
            return step
    return None
