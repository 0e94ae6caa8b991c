"""Atomic writes and content hashes: every output, sidecar and export goes through here."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from .errors import UsageError, VidgenError

_CHUNK = 1 << 20

#: errors that say the *path* is wrong (usage, exit 2) rather than the machine (exit 1)
_PATH_ERRNOS = frozenset(
    {errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT}
)


class OutputError(VidgenError):
    """An output could not be written (disk full, I/O error): exit code 1."""


class OutputPathError(UsageError):
    """An output path that can never be written (a directory, read-only, an input): exit 2."""


def output_error(path: str | os.PathLike[str], exc: OSError) -> VidgenError:
    """The one-line error for an OSError met while writing ``path``."""
    why = exc.strerror or str(exc)
    if exc.errno in _PATH_ERRNOS:
        return OutputPathError(f"cannot write {os.fspath(path)}: {why}")
    return OutputError(f"cannot write {os.fspath(path)}: {why} (nothing was written there)")


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open()`` would give a new file (0644 under umask 022): temp files
    from ``mkstemp`` are 0600, which a web server or another user could not read."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode ``mkdir`` would give a new folder (``mkdtemp`` makes 0700)."""
    return 0o777 & ~current_umask()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, streamed so memory stays flat for any size."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[bytes]]:
    """Open a temp file beside ``path``; rename it over ``path`` only on success.

    A crash or exception leaves either the old file or none at the final path,
    never a half-written one.
    """
    final = Path(path)
    if final.is_dir():
        raise OutputPathError(f"cannot write {final}: it is a directory")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    except OSError as e:
        raise output_error(final, e) from None
    body_done = False
    try:
        os.fchmod(fd, file_mode())
        try:
            with os.fdopen(fd, mode) as f:
                yield f
                body_done = True
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except OSError as e:
            # ours: the flush, fsync, close (which flushes again) and rename; a caller's
            # own error (reading an input inside the block) names its file
            if body_done or e.filename is None:
                raise output_error(final, e) from None
            raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_output(path) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def temp_path_beside(path: str | os.PathLike[str], suffix: str = "") -> Path:
    """A fresh, unused temp path in the same directory (same filesystem, so rename is atomic)."""
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{final.stem}.", suffix=f".part{suffix}", dir=final.parent
        )
    except OSError as e:
        raise output_error(final, e) from None
    try:
        os.fchmod(fd, file_mode())
    finally:
        os.close(fd)
    return Path(tmp)


def temp_dir_beside(path: str | os.PathLike[str]) -> Path:
    """A fresh temp folder beside ``path`` with the mode ``mkdir`` would give it."""
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent))
    except OSError as e:
        raise output_error(final, e) from None
    os.chmod(tmp, dir_mode())
    return tmp


# --- output paths, checked before any work -------------------------------------------


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()  # follows symlinks: a link to an input is that input
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and not p.is_symlink() and p != p.parent:
        p = p.parent
    return p


def check_output(
    path: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    *,
    option: str = "-o",
    kind: str = "file",
    empty_dir: bool = False,
) -> Path:
    """Refuse, before any decoding or rendering, an output that could never be written
    or that would replace one of the command's own inputs.

    ``kind`` is ``file`` (an existing one is replaced atomically) or ``dir`` (a folder
    that is created; with ``empty_dir`` an existing one must be empty). An output that
    is, or links (symlink or hard link) to, any of ``inputs`` is a usage error, as are
    an existing folder where a file goes (or the reverse), a parent that is a file,
    and a folder that cannot be written. Missing parent folders are fine when the
    nearest existing one is writable: writers create them.
    """
    out = Path(path)
    label = f"{option} {out}" if option else str(out)
    ident = _identity(out)
    if ident is not None:
        for inp in inputs:
            if inp is not None and _identity(Path(inp)) == ident:
                raise OutputPathError(
                    f"{label} is the input {os.fspath(inp)}; writing it would destroy the "
                    "input: choose another output path"
                )
    if out.is_symlink() and not out.exists():
        raise OutputPathError(f"{label} is a dangling symbolic link")
    if out.exists():
        is_dir = stat.S_ISDIR(out.stat().st_mode)
        if kind == "file" and is_dir:
            raise OutputPathError(f"{label} is a directory; give a file name")
        if kind == "dir" and not is_dir:
            raise OutputPathError(f"{label} exists and is not a directory")
        if kind == "dir" and empty_dir and any(out.iterdir()):
            raise OutputPathError(f"{label} is not empty; give a new or empty folder")
    base = out if (kind == "dir" and out.is_dir()) else out.parent
    anchor = _nearest_existing(base)
    if not anchor.is_dir():
        raise OutputPathError(f"{label}: {anchor} is not a directory")
    _probe_writable(anchor, label)
    return out


def _probe_writable(folder: Path, label: str) -> None:
    """Create and remove a temp file: the only test that holds as root, on read-only
    mounts and on virtual filesystems (``/proc``)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".vidgen-probe.", dir=folder)
    except OSError as e:
        raise OutputPathError(f"{label}: cannot write in {folder}: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(tmp)


def check_distinct(outputs: Iterable[tuple[str, str | os.PathLike[str] | None]]) -> None:
    """Two outputs of one command must not be the same file."""
    seen: dict[Path, str] = {}
    for option, p in outputs:
        if p is None:
            continue
        key = Path(os.path.abspath(p))
        if key in seen:
            raise OutputPathError(f"{option} and {seen[key]} are the same file {p}")
        seen[key] = option
