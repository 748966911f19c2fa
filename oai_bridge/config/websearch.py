"""OpenAI's hosted web search for one call: the app's parameters -> the Responses API's
`web_search` tool.

The parameter names are those of Dify's official OpenAI-compatible plugin (0.0.64), so apps
exported from it carry over: `web_search` (on/off), `web_search_allowed_domains` and
`web_search_blocked_domains` (comma-separated; a scheme, path or port pasted with a domain is
dropped), `web_search_context_size` (low, medium, high) and `web_search_user_country` (two
letters). Offered only for models on the Responses API (`chat.schema`); a server that refuses the
tool has it removed, with a log line (`dialects.learned`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from oai_bridge.config.settings import SettingsError

__all__ = [
    "CONTEXT_SIZES",
    "WEB_SEARCH",
    "WEB_SEARCH_ALLOWED",
    "WEB_SEARCH_BLOCKED",
    "WEB_SEARCH_CONTEXT",
    "WEB_SEARCH_COUNTRY",
    "domains",
    "web_search_tool",
]

WEB_SEARCH = "web_search"
WEB_SEARCH_ALLOWED = "web_search_allowed_domains"
WEB_SEARCH_BLOCKED = "web_search_blocked_domains"
WEB_SEARCH_CONTEXT = "web_search_context_size"
WEB_SEARCH_COUNTRY = "web_search_user_country"
CONTEXT_SIZES = ("low", "medium", "high")


def _on(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "on", "1"):
        return True
    if text in ("false", "off", "0", ""):
        return False
    raise SettingsError(f"`{WEB_SEARCH}` must be true or false, got {text[:20]!r}.")


def domains(value: Any) -> list[str]:
    """Comma- or space-separated domains, each as a bare host name, in order, without repeats:
    `https://docs.dify.ai:443/x, openai.com` -> `["docs.dify.ai", "openai.com"]`."""
    out: list[str] = []
    for raw in str(value or "").replace(",", " ").split():
        host = urlsplit(raw if "//" in raw else f"//{raw}").hostname or ""
        if host and host not in out:
            out.append(host)
    return out


def web_search_tool(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `web_search` tool this call asks for, or None when web search is off."""
    if not _on(params.get(WEB_SEARCH)):
        return None
    tool: dict[str, Any] = {"type": "web_search"}
    filters = {
        key: found
        for key, name in (("allowed_domains", WEB_SEARCH_ALLOWED), ("blocked_domains", WEB_SEARCH_BLOCKED))
        if (found := domains(params.get(name)))
    }
    if filters:
        tool["filters"] = filters
    size = str(params.get(WEB_SEARCH_CONTEXT) or "").strip().lower()
    if size:
        if size not in CONTEXT_SIZES:
            raise SettingsError(f"`{WEB_SEARCH_CONTEXT}` must be one of {', '.join(CONTEXT_SIZES)}, got {size[:20]!r}.")
        tool["search_context_size"] = size
    country = str(params.get(WEB_SEARCH_COUNTRY) or "").strip().upper()
    if country:
        if not (len(country) == 2 and country.isascii() and country.isalpha()):
            raise SettingsError(
                f"`{WEB_SEARCH_COUNTRY}` must be a two-letter country code such as US, got {country[:20]!r}."
            )
        tool["user_location"] = {"type": "approximate", "country": country}
    return tool
