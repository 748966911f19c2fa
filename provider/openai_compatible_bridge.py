"""The model provider. A customizable-model provider has no provider-level credentials: each model
is validated on its own (see the model classes' validate_credentials)."""

from dify_plugin import ModelProvider


class OpenAICompatibleBridgeProvider(ModelProvider):
    def validate_provider_credentials(self, credentials: dict) -> None:
        del credentials  # nothing to check: every setting belongs to a model
