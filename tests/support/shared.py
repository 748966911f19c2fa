"""Test data the project may not redistribute, found beside the checkout or through the environment.

The Marketplace-signed package and Dify's official public key (both from
``langgenius/dify-plugin-daemon``: ``integration/plugin/testdata/langgenius-agent_0.0.14.difypkg``
and ``pkg/license/public_key/PUBLIC_KEY.pem``) live in ``../shared/fixtures/dify-signing``
relative to the checkout, or wherever ``DIFY_SIGNING_FIXTURES`` points. Where they are absent the
tests that need them are skipped with a one-line reason; under CI (``CI=true``) that is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIGNING_FIXTURES_ENV = "DIFY_SIGNING_FIXTURES"
SIGNING_FIXTURE_FILES = ("langgenius-agent_0.0.14.difypkg", "official_public_key.pem")


def under_ci() -> bool:
    """``CI`` set to a true value, as ``.ci/run`` and the common CI services do."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def signing_fixtures() -> Path:
    """The folder holding the Marketplace-signed fixture; skips (fails under CI) when absent."""
    override = os.environ.get(SIGNING_FIXTURES_ENV)
    folder = Path(override) if override else ROOT.parent / "shared" / "fixtures" / "dify-signing"
    if all((folder / name).is_file() for name in SIGNING_FIXTURE_FILES):
        return folder
    where = f"${SIGNING_FIXTURES_ENV}" if override else f"../shared/fixtures/dify-signing or ${SIGNING_FIXTURES_ENV}"
    reason = f"Marketplace-signed fixture not found ({where}); it is not redistributed with the project"
    if under_ci():
        pytest.fail(f"{reason}, and CI=true requires it", pytrace=False)
    pytest.skip(reason)
