"""Where the project's shared reference material (docs, fixtures) is.

CI runs in a fresh clone with a copy of ``shared/`` beside it (``<clone>/../shared``); a git
worktree sits deeper, so every parent of the checkout is tried. ``OAIB_SHARED_DIR`` overrides.
Absent material is a failure with the places tried, never a silent skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def shared_path(relative: str) -> Path:
    """``shared/<relative>``, or ``pytest.fail`` naming where it was looked for."""
    override = os.environ.get("OAIB_SHARED_DIR")
    bases = [Path(override)] if override else [parent / "shared" for parent in ROOT.parents]
    for base in bases:
        if (base / relative).exists():
            return base / relative
    pytest.fail(
        f"shared/{relative} not found (looked in {', '.join(str(b) for b in bases)}). Put a copy of the "
        "project's shared/ folder beside the checkout, or set OAIB_SHARED_DIR to it.",
        pytrace=False,
    )
