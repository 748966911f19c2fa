"""The `openai` package, imported on first use.

Importing openai is most of the plugin's start-up time (about half a second of type modules),
and Dify waits for the plugin's first heartbeat; the plugin needs openai only once a request
arrives. `from oai_bridge import lazy_openai as openai` and use it like the package: the first
attribute access imports it, later ones are plain module attributes.
"""

from __future__ import annotations

import importlib
from typing import Any

# openai._constants.RAW_RESPONSE_HEADER: asks the client for the unread response (streaming).
RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"


def __getattr__(name: str) -> Any:
    value = getattr(importlib.import_module("openai"), name)
    globals()[name] = value  # cached: the next access is an ordinary attribute
    return value
