"""The model provider. A customizable-model provider has no provider-level credentials: each model
is validated on its own (see the model classes' validate_credentials)."""

import logging

from dify_plugin import ModelProvider
from dify_plugin.config.logger_format import plugin_logger_handler

# The plugin's own log lines (retries, servers it adapts to) go to Dify's log channel: stdout is
# the protocol, so only this handler, which writes protocol frames, may write there.
_log = logging.getLogger("oai_bridge")
_log.addHandler(plugin_logger_handler)
_log.setLevel(logging.INFO)


class OpenAICompatibleBridgeProvider(ModelProvider):
    def validate_provider_credentials(self, credentials: dict) -> None:
        del credentials  # nothing to check: every setting belongs to a model
