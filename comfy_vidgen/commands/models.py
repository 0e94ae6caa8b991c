"""``vidgen models list|verify|fetch``: the pinned weight files of models.lock.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._common import add_json_flag, add_parser, emit_json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_parser(
        sub,
        "models",
        "list, verify and fetch the pinned model files of models.lock.json",
        "vidgen models fetch rife-4.25 --comfyui-dir ~/ComfyUI",
    )
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "names", nargs="*", metavar="NAME", help="models to act on (default: all in the lock)"
        )
        q.add_argument("--lock", type=Path, default=None, help="models.lock.json to use")
        where = q.add_mutually_exclusive_group()
        where.add_argument(
            "--dest",
            type=Path,
            default=None,
            metavar="DIR",
            help="models root (files go to DIR/<folder>/<filename>); default "
            "$VIDGEN_MODELS_DIR or ~/.cache/comfy-vidgen/models",
        )
        where.add_argument(
            "--comfyui-dir",
            type=Path,
            default=None,
            metavar="DIR",
            help="a ComfyUI checkout: use DIR/models as the models root (relative to the "
            "directory your shell shows, so symlinked installs work). Default: the ComfyUI "
            "you are in (e.g. from custom_nodes/comfy-vidgen), unless $VIDGEN_MODELS_DIR is set",
        )
        add_json_flag(q)

    ls = add_parser(msub, "list", "show the locked models and where they are", "vidgen models list")
    common(ls)
    ls.set_defaults(func=cmd_list)
    v = add_parser(
        msub,
        "verify",
        "check size and sha256 of the model files (exit 1 if any is missing or wrong)",
        "vidgen models verify rife-4.25 --json",
    )
    common(v)
    v.set_defaults(func=cmd_verify)
    f = add_parser(
        msub,
        "fetch",
        "download the pinned sources, verify size and sha256, install atomically",
        "vidgen models fetch rife-4.25 --dest ~/models",
    )
    common(f)
    f.add_argument("--force", action="store_true", help="fetch even if a verified file exists")
    f.set_defaults(func=cmd_fetch)


def _select(args: argparse.Namespace) -> tuple[Any, list[Any], Path | None]:
    import os
    import sys

    from ..fsutil import check_output
    from ..models import ModelsError, comfyui_models_root, enclosing_comfyui, load_lock

    try:  # the lock, the names and the folders all come from the command line
        lock = load_lock(args.lock)
        entries = [lock.get(n) for n in args.names] if args.names else list(lock.models)
        root = comfyui_models_root(args.comfyui_dir) if args.comfyui_dir else args.dest
        if root is None and args.comfyui_dir is None and not os.environ.get("VIDGEN_MODELS_DIR"):
            found = enclosing_comfyui()
            if found is not None:
                root = comfyui_models_root(found)
                print(f"using the ComfyUI you are in: {found}", file=sys.stderr)
    except ModelsError as e:
        raise UsageError(str(e)) from None
    if root is not None and getattr(args, "func", None) is cmd_fetch:
        option = "--comfyui-dir" if args.comfyui_dir else "--dest"
        check_output(root, [args.lock], option=option, kind="dir")
    return lock, entries, root


def cmd_list(args: argparse.Namespace) -> int:
    from ..models import locate

    _, entries, root = _select(args)
    rows: list[dict[str, Any]] = []
    for e in entries:
        path = locate(e, root)
        rec = {
            "name": e.name,
            "folder": e.folder,
            "filename": e.filename,
            "size": e.size,
            "sha256": e.sha256,
            "license": e.license,
            "present": path is not None,
            "path": str(path) if path else None,
            "used_by": e.used_by,
        }
        if args.json:
            emit_json(rec)
        else:
            rows.append(rec)
    if rows:
        # columns sized to their content; the licence (often a sentence) goes last
        name_w = max(len(r["name"]) for r in rows)
        file_w = max(len(f"{r['folder']}/{r['filename']}") for r in rows)
        for r in rows:
            size = f"{r['size'] / 1e6:.1f} MB" if r["size"] is not None else "? MB"
            where = r["path"] or "(not fetched)"
            file = f"{r['folder']}/{r['filename']}"
            print(f"{r['name']:<{name_w}}  {file:<{file_w}}  {size:>9}  {where}  [{r['license']}]")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from ..models import verify

    _, entries, root = _select(args)
    ok = True
    for e in entries:
        r = verify(e, root)
        ok &= r.ok
        if args.json:
            emit_json({"name": r.name, "path": r.path, "status": r.status, "detail": r.detail})
        else:
            print(f"{r.status.upper():<16} {r.name:<16} {r.path or ''} {r.detail}".rstrip())
    return 0 if ok else 1


def cmd_fetch(args: argparse.Namespace) -> int:
    from ..models import ModelsError, fetch

    _, entries, root = _select(args)
    if not entries:
        raise UsageError("the lock lists no models")
    failed = 0
    for e in entries:
        bar = _bar(e.name, e.size)
        try:
            path = fetch(e, root, on_progress=bar.update if bar else None, force=args.force)
        except ModelsError as err:
            failed += 1
            if args.json:
                emit_json({"name": e.name, "ok": False, "error": str(err)})
            else:
                print(f"vidgen: error: {err}", file=sys.stderr)
            continue
        finally:
            if bar:
                bar.close()
        if args.json:
            emit_json({"name": e.name, "ok": True, "path": str(path), "sha256": e.sha256})
        else:
            print(f"OK  {e.name}  {path}")
    return 1 if failed else 0


class _Bar:
    """tqdm bar driven by ``(done, total)`` byte counts; only on a terminal."""

    def __init__(self, name: str, total: int | None) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=name, unit="B", unit_scale=True, dynamic_ncols=True)

    def update(self, done: int, total: int) -> None:
        if total and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


def _bar(name: str, total: int | None) -> _Bar | None:
    return _Bar(name, total) if sys.stderr.isatty() else None
