"""What every model class shares: reading the credentials, translating errors, validating (detect,
then save the findings), and the zero price of a self-hosted endpoint. Model classes mix this in
before the SDK's base class and stay thin adapters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from dify_plugin.entities.model import PriceInfo
from dify_plugin.errors.model import CredentialsValidateFailedError, InvokeError

from oai_bridge.config.settings import Settings, SettingsError, parse_settings
from oai_bridge.discovery.detect import Detection, ModelKind, detect, save_findings
from oai_bridge.errors.invoke import endpoint_errors, to_invoke_error, translated_errors

__all__ = ["ZERO_PRICE", "BridgeModel", "check_credentials", "settings_for", "validate_and_save"]

# Self-hosted endpoints have no price list (and the SDK's lookup would rebuild the schema).
ZERO_PRICE = PriceInfo(unit_price=Decimal(0), unit=Decimal(0), total_amount=Decimal(0), currency="USD")


def settings_for(model: str, credentials: Mapping[str, Any]) -> Settings:
    """The model's settings; an unusable form value is a bad request naming the field."""
    with translated_errors():  # SettingsError -> InvokeBadRequestError; its text holds no secrets
        return parse_settings(model, credentials)


def check_credentials(
    model: str, credentials: Mapping[str, Any], kind_for: Callable[[Settings], ModelKind], *, doctor: bool = False
) -> Detection:
    """Saving's checks, shared with `make doctor`: the form parsed, then detection with the
    endpoint's error wording (hints such as "No API key was sent" included). Raises SettingsError
    or InvokeError. `kind_for(settings)` names the model kind."""
    settings = parse_settings(model, credentials)
    with endpoint_errors(settings):
        return detect(settings, kind_for(settings), doctor=doctor)


def validate_and_save(model: str, credentials: dict[str, Any], kind_for: Callable[[Settings], ModelKind]) -> Detection:
    """Validation for every model type: detect (the plain request must work), then write what was
    found into `credentials`, which Dify saves. Every failure is a CredentialsValidateFailedError
    with the same words a call would show."""
    try:
        found = check_credentials(model, credentials, kind_for)
    except (SettingsError, InvokeError) as exc:
        raise CredentialsValidateFailedError(str(exc)) from None
    save_findings(credentials, found)
    return found


class BridgeModel:
    """Mixed into every model class ahead of the SDK's base class."""

    def _transform_invoke_error(self, error: Exception) -> InvokeError:
        # Errors are mapped and worded where they happen; the SDK default would reword them.
        return to_invoke_error(error)

    @property
    def _invoke_error_mapping(self) -> dict[type[InvokeError], list[type[Exception]]]:
        return {}  # unused: _transform_invoke_error is overridden
