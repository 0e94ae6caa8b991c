"""Reading TOML settings files (profiles, shootouts, fleets) into pydantic models.

One place decides how a bad settings file is reported: which file, which key, what
is wrong, raised as the caller's own error type (exit code 2 for usage files).
"""

from __future__ import annotations

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
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise error(f"{what}: {validation_messages(e)}") from None
