"""What detection found about a model, typed, and its round trip through the credentials.

Validation writes findings into the credentials as `_detected_<name>` strings (Dify saves what
validation returns); every later call reads them back here. This is the only module that knows
that encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["AUTO_DEFAULTS", "DETECTED_PREFIX", "FEATURES", "Findings", "findings_from"]

DETECTED_PREFIX = "_detected_"
# Capabilities a form leaves on `auto` and detection may decide.
FEATURES = ("tool_calling", "structured_output", "vision", "audio", "video", "document", "thinking")
# What `auto` means until something was detected: tool calling is on (agents need it and most
# servers support it; a server that lacks it answers with a clear error), thinking is shown when
# a server sends it, the rest off until a request shows them.
AUTO_DEFAULTS: Mapping[str, bool] = MappingProxyType(
    {
        "tool_calling": True,
        "structured_output": False,
        "vision": False,
        "audio": False,
        "video": False,
        "document": False,
        "thinking": True,
    }
)
_INTS = ("context_size", "dimensions")


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Findings:
    """Detected facts. None / absent means "not known"."""

    context_size: int | None = None
    dimensions: int | None = None
    """Vector size of an embedding model (sizes the calls Dify makes)."""
    features: Mapping[str, bool] = field(default_factory=_empty)
    """Capability name -> whether the endpoint showed it."""
    values: Mapping[str, str] = field(default_factory=_empty)
    """Other per-model-type facts (a rerank path, a score scale, voices), as text."""

    def feature(self, name: str) -> bool | None:
        return self.features.get(name)

    def value(self, name: str) -> str | None:
        return self.values.get(name)

    def with_value(self, name: str, value: str) -> Findings:
        """These findings plus one value (a fact found earlier in the same detection)."""
        return Findings(
            self.context_size, self.dimensions, self.features, MappingProxyType({**self.values, name: value})
        )

    def __bool__(self) -> bool:
        return bool(self.context_size or self.dimensions or self.features or self.values)

    def to_credentials(self) -> dict[str, str]:
        """As credential entries (strings, as Dify's form stores them)."""
        out = {f"{DETECTED_PREFIX}{name}": "true" if on else "false" for name, on in self.features.items()}
        for name in _INTS:
            value = getattr(self, name)
            if value:
                out[f"{DETECTED_PREFIX}{name}"] = str(value)
        out.update({f"{DETECTED_PREFIX}{name}": value for name, value in self.values.items()})
        return out


def _int(value: Any) -> int | None:
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() and int(text) > 0 else None


def findings_from(credentials: Mapping[str, Any]) -> Findings:
    """Read `_detected_*` entries back (booleans may arrive as bools or "true"/"false")."""
    features: dict[str, bool] = {}
    values: dict[str, str] = {}
    ints: dict[str, int | None] = {}
    for key, raw in credentials.items():
        if not key.startswith(DETECTED_PREFIX):
            continue
        name = key[len(DETECTED_PREFIX) :]
        if name in _INTS:
            ints[name] = _int(raw)
        elif name in FEATURES:
            text = str(raw).strip().lower()
            if isinstance(raw, bool) or text in ("true", "false"):
                features[name] = raw if isinstance(raw, bool) else text == "true"
        elif raw is not None and str(raw) != "":
            values[name] = str(raw)
    return Findings(
        context_size=ints.get("context_size"),
        dimensions=ints.get("dimensions"),
        features=MappingProxyType(features),
        values=MappingProxyType(values),
    )
