"""Reading TOML settings files (profiles, shootouts, fleets) into pydantic models.

One place decides how a bad settings file is reported: which file, which key, what
is wrong, raised as the caller's own error type (exit code 2 for usage files).
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def validation_messages(e: ValidationError, root: str = "<file>") -> str:
    """``a.b: message; c: message`` for every error pydantic found."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or root}: {err['msg']}"
        for err in e.errors(include_url=False)
    )


def non_finite_keys(data: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose value is NaN or +-Inf (TOML allows ``nan`` and ``inf``; no
    setting of ours means anything with them, and ``min = nan`` silently disables a rule
    because every comparison with NaN is false)."""
    found: list[str] = []
    if isinstance(data, float) and not math.isfinite(data):
        found.append(prefix or "<value>")
    elif isinstance(data, dict):
        for k, v in data.items():
            found += non_finite_keys(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += non_finite_keys(v, f"{prefix}[{i}]")
    return found


def check_finite(data: Any, what: str, error: type[Exception]) -> None:
    """Raise ``error`` naming every NaN/Inf value of a parsed settings file."""
    bad = non_finite_keys(data)
    if bad:
        raise error(f"{what}: {', '.join(bad)}: must be a finite number (not nan or inf)")


def load_toml_model(path: Path, model: type[M], what: str, error: type[Exception]) -> M:
    """Parse ``path`` as TOML and validate it as ``model``; any problem raises ``error``
    with a message that starts with ``what`` (e.g. "QC profile x.toml")."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise error(f"{what} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{what}: cannot read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise error(f"{what}: invalid TOML: {e}") from None
    check_finite(data, what, error)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise error(f"{what}: {validation_messages(e)}") from None
