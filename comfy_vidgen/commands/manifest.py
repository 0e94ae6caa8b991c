"""``vidgen manifest new|validate|hash|schema``."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from .. import parameters
from ..errors import UsageError
from ..manifest import Output
from ..workflow_specs import DEFAULT_WORKFLOW
from ._common import add_input_root, add_json_flag, add_parser, emit_json, parse_size


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = add_parser(
        sub,
        "manifest",
        "create, validate and hash job manifests (the control-machine/GPU contract)",
        "vidgen manifest validate shots/*.json --input-root shots --json",
    )
    msub = p.add_subparsers(dest="manifest_command", metavar="ACTION", required=True)

    n = add_parser(
        msub,
        "new",
        "write a valid manifest for a keyframe",
        "vidgen manifest new shots/beach.jpg --motion zoom_in --start full "
        "--end 0.25,0.25,0.5,0.5 --workflow camera_only@3 --input-root shots -o beach.json",
    )
    n.add_argument("keyframe", type=Path, metavar="KEYFRAME")
    n.add_argument("--motion", required=True, help="static, pan_left, ..., zoom_in, custom")
    n.add_argument(
        "--start",
        default="full",
        help="start crop X,Y,W,H normalised to the keyframe, 'full' (the largest centred crop "
        "of the output aspect) or ZOOMx@CX,CY (the full crop zoomed in ZOOM times, centred "
        "near CX,CY; fits any keyframe aspect)",
    )
    n.add_argument("--end", required=True, help="end crop: X,Y,W,H, 'full' or ZOOMx@CX,CY")
    n.add_argument("--easing", default="ease_in_out", help="linear, ease_in, ease_out, ease_in_out")
    n.add_argument(
        "--workflow",
        default=None,
        help=f"name@version (default: locked settings, else {DEFAULT_WORKFLOW})",
    )
    n.add_argument("--seed", type=int, default=None, help="uint64 seed (random if omitted)")
    n.add_argument("--size", default="1024x576", help="output WIDTHxHEIGHT (default 1024x576)")
    n.add_argument(
        "--id", dest="manifest_id", default=None, help="manifest id (default: keyframe name)"
    )
    out_fields = Output.model_fields
    n.add_argument(
        "--fps",
        type=int,
        default=None,
        help=f"output frame rate (default {out_fields['fps'].default})",
    )
    n.add_argument(
        "--frames",
        type=int,
        default=None,
        help=f"output frames (default {out_fields['frames'].default})",
    )
    for flag, key, param in parameters.flagged():
        n.add_argument(
            flag, dest=f"gen_{key}", type=parameters.python_type(param), default=None,
            help=f"{param.tooltip} Default: the workflow's spec.",
        )  # fmt: skip
    n.add_argument("-o", "--output", type=Path, default=None, help="write here (default: stdout)")
    add_input_root(n)
    n.set_defaults(func=cmd_new)

    v = add_parser(
        msub,
        "validate",
        "check manifests (and, with --input-root, their keyframe files)",
        "vidgen manifest validate a.json b.json --input-root shots --json",
    )
    v.add_argument("files", type=Path, nargs="+", metavar="FILE")
    add_input_root(v)
    add_json_flag(v)
    v.set_defaults(func=cmd_validate)

    h = add_parser(
        msub, "hash", "print a manifest's identity hash", "vidgen manifest hash beach.json"
    )
    h.add_argument("file", type=Path, metavar="FILE")
    h.set_defaults(func=cmd_hash)

    s = add_parser(
        msub, "schema", "print the manifest JSON Schema", "vidgen manifest schema > m.schema.json"
    )
    s.set_defaults(func=cmd_schema)


#: ``1.4x@0.5,0.45``: zoom factor, then the centre (normalised to the keyframe)
_ZOOM = re.compile(r"^\s*([0-9.]+)\s*x\s*@\s*([0-9.]+)\s*,\s*([0-9.]+)\s*$", re.I)


def _crop(text: str, what: str) -> dict[str, float] | str | tuple[float, float, float]:
    """X,Y,W,H; 'full'; or (zoom, cx, cy), resolved once the keyframe's size is known."""
    if text.strip().lower() == "full":
        return "full"
    m = _ZOOM.match(text)
    if m:
        zoom, cx, cy = (float(g) for g in m.groups())
        if not (math.isfinite(zoom) and zoom >= 1.0 and 0 <= cx <= 1 and 0 <= cy <= 1):
            raise UsageError(
                f"--{what} {text!r}: ZOOM must be >= 1 and CX,CY within 0..1 (e.g. 1.4x@0.5,0.45)"
            )
        return (zoom, cx, cy)
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(
            f"--{what} must be X,Y,W,H (four numbers), 'full' or ZOOMx@CX,CY, got {text!r}"
        ) from None
    return {"x": x, "y": y, "w": w, "h": h}


def _zoomed(full: dict[str, float], zoom: float, cx: float, cy: float) -> dict[str, float]:
    """The full output-aspect crop shrunk ``zoom`` times, centred on (cx, cy) as far as it
    stays inside the keyframe: the same aspect as the output on any keyframe."""
    w, h = full["w"] / zoom, full["h"] / zoom
    x = min(max(cx - w / 2, 0.0), 1.0 - w)
    y = min(max(cy - h / 2, 0.0), 1.0 - h)
    return {"x": x, "y": y, "w": w, "h": h}


def cmd_new(args: argparse.Namespace) -> int:
    import secrets

    from ..fsutil import atomic_write_text, check_output
    from ..images import ImageError, probe_image
    from ..manifest import ManifestError, dumps_pretty, full_crop, manifest_hash

    size = parse_size(args.size)
    if not args.keyframe.is_file():
        raise UsageError(f"keyframe {args.keyframe} does not exist or is not a file")
    if args.output is not None:
        check_output(args.output, [args.keyframe])
    start, end = _crop(args.start, "start"), _crop(args.end, "end")
    if not (isinstance(start, dict) and isinstance(end, dict)):
        try:
            info = probe_image(args.keyframe)
        except ImageError as e:
            raise UsageError(str(e)) from None
        full = full_crop(info.width, info.height, *size)
        start = (
            full
            if start == "full"
            else _zoomed(full, *start)
            if isinstance(start, tuple)
            else start
        )
        end = full if end == "full" else _zoomed(full, *end) if isinstance(end, tuple) else end
    seed = args.seed
    if seed is None:
        seed = secrets.randbits(64)
    workflow = args.workflow
    locked: dict[str, Any] = {}
    if workflow is None:
        from ..locked import load_locked_settings

        locked_settings = load_locked_settings()
        workflow = locked_settings.workflow if locked_settings else DEFAULT_WORKFLOW
        locked = dict(locked_settings.parameters) if locked_settings else {}
    output = {k: v for k, v in {"fps": args.fps, "frames": args.frames}.items() if v is not None}
    generation = {
        **locked,
        **{
            key: value
            for _, key, _ in parameters.flagged()
            if (value := getattr(args, f"gen_{key}")) is not None
        },
    }
    try:
        m = _build(args, start, end, workflow, seed, size, output, generation)
    except ManifestError as e:  # every field came from a flag: a usage error
        raise UsageError(str(e)) from None
    if args.seed is None:
        print(f"seed: {seed} (random)", file=sys.stderr)
    text = dumps_pretty(m)
    if args.output is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(args.output, text)
        print(f"wrote {args.output} (manifest_hash {manifest_hash(m)})", file=sys.stderr)
    return 0


def _build(
    args: argparse.Namespace,
    start: Any,
    end: Any,
    workflow: str,
    seed: int,
    size: tuple[int, int],
    output: dict[str, Any],
    generation: dict[str, Any],
) -> Any:
    from ..manifest import build_manifest

    return build_manifest(
        keyframe=args.keyframe,
        input_root=args.input_root,
        motion_type=args.motion,
        start=start,
        end=end,
        workflow=workflow,
        seed=seed,
        size=size,
        easing=args.easing,
        manifest_id=args.manifest_id,
        output=output,
        generation=generation,
    )


def cmd_validate(args: argparse.Namespace) -> int:
    from ..manifest import manifest_hash, validate_file

    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        raise UsageError(f"no such manifest file: {', '.join(missing)}")
    all_ok = True
    for path in args.files:
        m, errors = validate_file(path, args.input_root)
        ok = m is not None and not errors
        all_ok &= ok
        if args.json:
            rec: dict[str, Any] = {"path": str(path), "valid": ok}
            if ok and m is not None:
                rec["manifest_hash"] = manifest_hash(m)
            rec["errors"] = [e.as_dict() for e in errors]
            emit_json(rec)
        elif ok and m is not None:
            print(f"OK       {path}  {manifest_hash(m)}")
        else:
            print(f"INVALID  {path}")
            for e in errors:
                print(f"  {e.loc or '<manifest>'}: {e.msg}")
    return 0 if all_ok else 1


def cmd_hash(args: argparse.Namespace) -> int:
    from ..manifest import load_manifest, manifest_hash

    if not args.file.is_file():
        raise UsageError(f"no such manifest file: {args.file}")
    print(manifest_hash(load_manifest(args.file)))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from ..manifest import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")
    return 0
