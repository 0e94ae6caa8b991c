"""The shootout's locked winner: the workflow and parameters new manifests default to.

``vidgen shootout`` writes ``locked-settings.json``; ``vidgen manifest new``
reads it (from ``VIDGEN_LOCKED_SETTINGS`` or ``./locked-settings.json``) so that
production manifests use the settings that won on numbers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import VidgenError

DEFAULT_PATH = Path("locked-settings.json")


@dataclass(frozen=True)
class LockedSettings:
    workflow: str
    parameters: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def load_locked_settings(path: str | os.PathLike[str] | None = None) -> LockedSettings | None:
    """The locked settings, or None when no file exists (then built-in defaults apply)."""
    p = Path(path or os.environ.get("VIDGEN_LOCKED_SETTINGS") or DEFAULT_PATH)
    if not p.is_file():
        return None
    try:
        data = json.loads(p.read_text("utf-8"))
        workflow = data["workflow"]
        params = data.get("parameters", {})
        if not isinstance(workflow, str) or not isinstance(params, dict):
            raise TypeError("workflow must be a string and parameters an object")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise VidgenError(f"{p}: unusable locked settings ({e})") from None
    return LockedSettings(workflow=workflow, parameters=params, source=str(p))
