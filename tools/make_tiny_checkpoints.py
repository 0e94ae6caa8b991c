"""Build tiny, seeded random checkpoints that the pinned ComfyUI loads as the real models.

Run it with ComfyUI's own interpreter (it imports ComfyUI's model classes):

    /work/comfyenv/bin/python tools/make_tiny_checkpoints.py --comfyui-dir /work/ComfyUI \\
        --out CACHE [--only FILENAME ...] [--seed N]

Files land in ``CACHE/<key>/<folder>/<filename>``, named exactly as in models.lock.json,
where ``key`` is the ComfyUI version, a short sha256 of the ComfyUI source files the
builders depend on, and the generator version: a different checkout or generator gets a
fresh folder, and a complete folder is reused. The key folder's path is printed last on
stdout. Output never goes inside a ComfyUI ``models/`` folder or this repository: these
are random weights that must never be mistaken for real ones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.tiny_checkpoints import ltxv, svd, wan  # noqa: E402
from tools.tiny_checkpoints.common import GENERATOR_VERSION, BuildContext  # noqa: E402

DEFAULT_SEED = 20261206
#: family -> its lock file name -> builder (ComfyUI itself is imported inside the builders)
FAMILIES: dict[str, dict[str, Callable[[BuildContext, Path], None]]] = {
    "wan": wan.BUILDERS,
    "svd": svd.BUILDERS,
    "ltxv": ltxv.BUILDERS,
}
COMPLETE_MARKER = "COMPLETE.json"

# the ComfyUI sources whose content decides what the builders write and how it loads
KEY_SOURCES = (
    "comfyui_version.py",
    "comfy/model_detection.py",
    "comfy/supported_models.py",
    "comfy/model_base.py",
    "comfy/sd.py",
    "comfy/sd1_clip.py",
    "comfy/ops.py",
    "comfy/lora.py",
    "comfy/clip_vision.py",
    "comfy/clip_model.py",
    "comfy/clip_vision_config_h.json",
    "comfy/ldm/wan",
    "comfy/ldm/lightricks",
    "comfy/ldm/modules/diffusionmodules",
    "comfy/text_encoders",
)


class UsageError(Exception):
    """An expected mistake in the arguments: one line on stderr, exit 2."""


def load_families() -> dict[str, str]:
    """Lock file name -> family name; a file claimed by two families is refused."""
    families: dict[str, str] = {}
    for family, builders in FAMILIES.items():
        for name in builders:
            if name in families:
                raise RuntimeError(f"{name} is built by both {families[name]} and {family}")
            families[name] = family
    return families


def load_builders() -> dict[str, Callable[[BuildContext, Path], None]]:
    """Every family's builders, by lock file name."""
    return {name: FAMILIES[family][name] for name, family in load_families().items()}


def lock_folders() -> dict[str, str]:
    """Lock file name -> ComfyUI models folder: models.lock.json is the one source."""
    lock = json.loads((REPO / "models.lock.json").read_text(encoding="utf-8"))
    return {entry["filename"]: entry["folder"] for entry in lock["models"]}


def _source(comfyui_dir: Path, rel: str) -> Path:
    """A ComfyUI source file or folder the cache key reads; a checkout without it is refused."""
    path = comfyui_dir / rel
    if not path.exists():
        raise UsageError(f"--comfyui-dir {comfyui_dir}: {rel} is missing (not the pinned ComfyUI?)")
    return path


def comfyui_version(comfyui_dir: Path) -> str:
    text = _source(comfyui_dir, "comfyui_version.py").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise UsageError(f"{comfyui_dir}: comfyui_version.py has no __version__")


def source_digest(comfyui_dir: Path) -> str:
    """Short sha256 over the ComfyUI files the builders depend on (the checkout has no .git)."""
    h = hashlib.sha256()
    for rel in KEY_SOURCES:
        path = _source(comfyui_dir, rel)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts:
                continue
            h.update(f.relative_to(comfyui_dir).as_posix().encode())
            h.update(b"\0")
            h.update(f.read_bytes())
            h.update(b"\0")
    return h.hexdigest()[:12]


def cache_key(comfyui_dir: Path, seed: int) -> str:
    version = comfyui_version(comfyui_dir)
    return f"comfyui-{version}-{source_digest(comfyui_dir)}-gen{GENERATOR_VERSION}-seed{seed}"


def _is_within(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
    except ValueError:
        return False
    return True


def check_out_dir(out: Path, comfyui_dir: Path) -> None:
    """Refuse an output folder where random weights could pass for real ones."""
    resolved = out.resolve()
    if _is_within(resolved, REPO):
        raise UsageError(
            f"--out {out} is inside the repository {REPO}; use a cache folder outside it"
        )
    if "models" in resolved.parts or _is_within(resolved, comfyui_dir.resolve() / "models"):
        raise UsageError(
            f"--out {out} is inside a ComfyUI models/ folder; tiny weights never go there"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfyui-dir", type=Path, required=True, help="pinned ComfyUI checkout")
    parser.add_argument("--out", type=Path, help="cache folder (outside the repo)")
    parser.add_argument(
        "--list", action="store_true", help="print 'family folder/filename' per buildable file"
    )
    parser.add_argument(
        "--only", nargs="+", default=None, metavar="FILENAME", help="lock file names to build"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="run seed (default %(default)s)"
    )
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> Path:
    comfyui_dir: Path = args.comfyui_dir
    if not (comfyui_dir / "comfy" / "model_detection.py").is_file():
        raise UsageError(
            f"--comfyui-dir {comfyui_dir} is not a ComfyUI checkout (no comfy/model_detection.py)"
        )
    check_out_dir(args.out, comfyui_dir)
    builders = load_builders()
    folders = lock_folders()
    names = sorted(builders)
    if args.only:
        unknown = [n for n in args.only if n not in builders]
        if unknown:
            raise UsageError(
                f"--only: no builder for {', '.join(unknown)} (known: {', '.join(names)})"
            )
        names = sorted(set(args.only))
    missing_folder = [n for n in names if n not in folders]
    if missing_folder:
        raise UsageError(f"not in models.lock.json: {', '.join(missing_folder)}")

    key_dir: Path = args.out / cache_key(comfyui_dir, args.seed)
    ctx = BuildContext(
        comfyui_dir=comfyui_dir.resolve(), seed=args.seed, generator_version=GENERATOR_VERSION
    )
    todo = [n for n in names if not (key_dir / folders[n] / n).is_file()]
    if not todo:
        print(f"cached: {len(names)} file(s) in {key_dir}", file=sys.stderr)
        return key_dir

    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - comfyenv ships tqdm
        tqdm = None
    bar = tqdm(total=len(todo), unit="file", file=sys.stderr) if tqdm is not None else None
    timings: dict[str, float] = {}
    for i, name in enumerate(todo, 1):
        if bar is not None:
            bar.set_description(name)
        else:
            print(f"[{i}/{len(todo)}] {name}", file=sys.stderr)
        target = key_dir / folders[name] / name
        start = time.monotonic()
        builders[name](ctx, target)
        timings[name] = round(time.monotonic() - start, 2)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    _write_manifest(key_dir, folders, builders, ctx, timings)
    return key_dir


def _write_manifest(
    key_dir: Path,
    folders: dict[str, str],
    builders: dict[str, Callable[[BuildContext, Path], None]],
    ctx: BuildContext,
    timings: dict[str, float],
) -> None:
    """Record what the key folder holds; written (atomically) only once every builder's file exists."""
    present = {
        n: f"{folders[n]}/{n}" for n in sorted(builders) if (key_dir / folders[n] / n).is_file()
    }
    if len(present) != len(builders):
        return
    record = {
        "generator_version": ctx.generator_version,
        "seed": ctx.seed,
        "files": present,
        "build_seconds_last_run": timings,
    }
    tmp = key_dir / f".{COMPLETE_MARKER}.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, key_dir / COMPLETE_MARKER)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        folders = lock_folders()
        for name, family in sorted(load_families().items()):
            print(f"{family} {folders.get(name, '?')}/{name}")
        return 0
    try:
        if args.out is None:
            raise UsageError("--out CACHE is required (a folder outside the repo)")
        key_dir = build(args)
    except UsageError as exc:
        print(f"make_tiny_checkpoints: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "make_tiny_checkpoints: interrupted; finished files are kept, none half-written",
            file=sys.stderr,
        )
        return 130
    print(key_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
