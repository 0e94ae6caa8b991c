"""The pack's entries in ComfyUI's template browser: ``example_workflows/``.

ComfyUI lists a custom-node pack's templates from ``custom_nodes/<pack>/example_workflows/
*.json`` (flat, not recursive; ``app/custom_node_manager.py``) and the front end shows
``<same name>.jpg`` as the card's picture and the file name as its title. Our released
workflows live nested (``workflows/<name>/v<N>/``), which that listing never sees, so
each workflow's newest version is copied there, byte for byte, under a name that says
what it does, with a thumbnail drawn from its graph.

The copies are derived data: ``tools/build_workflows.py`` writes them from the
committed ``workflow.json`` files and ``vidgen workflow lint`` (like ``build_workflows
--check``) fails when one is missing, stale or extra. A workflow added to
``workflows/`` appears here by running the builder; nothing lists workflows twice.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from .workflow_graph import PACK_WORKFLOWS, list_workflows
from .workflow_specs import get_spec, parse_ref

#: where ComfyUI looks first (it also accepts example/, examples/, workflow/, workflows/)
EXAMPLES = PACK_WORKFLOWS.parent / "example_workflows"
#: the front end asks for ``<name>.jpg`` for a custom pack's template
THUMB_SUFFIX = ".jpg"
THUMB_SIZE = (400, 300)
#: mean absolute difference per channel (0..255) a committed thumbnail may show against a
#: fresh rendering: JPEG encoders of different libjpeg builds round differently
THUMB_TOLERANCE = 2.0
_UNSAFE = re.compile(r"[^A-Za-z0-9 ._,;()+-]")


def newest_versions(root: Path | None = None) -> list[str]:
    """``name@N`` with the highest N of each workflow under ``root``."""
    best: dict[str, int] = {}
    for ref in list_workflows(root):
        name, version = parse_ref(ref)
        best[name] = max(version, best.get(name, 0))
    return [f"{n}@{v}" for n, v in sorted(best.items())]


def example_name(ref: str) -> str:
    """The template's file stem: workflow, version and what it does.

    What it does is the spec description's headline (before any parenthesised detail),
    so the template list stays readable; the detail is in the workflow's README.
    """
    name, version = parse_ref(ref)
    headline = get_spec(ref).description.split(" (", 1)[0]
    text = _UNSAFE.sub("", headline).strip().rstrip(".")
    return f"{name} v{version} - {text}"[:150].rstrip()


def expected(root: Path | None = None) -> dict[str, Path]:
    """Template stem -> the ``workflow.json`` it copies, for each workflow's newest version."""
    base = root or PACK_WORKFLOWS
    out = {}
    for ref in newest_versions(base):
        name, version = parse_ref(ref)
        out[example_name(ref)] = base / name / f"v{version}" / "workflow.json"
    return out


def render_thumbnail(ui: dict[str, Any], title: str) -> bytes:
    """A JPEG of the graph as the front end lays it out: nodes, links and node types.

    Drawn from the UI form's own positions and sizes, so it shows the graph an artist
    opens. Text uses Pillow's built-in bitmap font (same pixels everywhere) when present.
    """
    from PIL import Image, ImageDraw, ImageFont

    w, h = THUMB_SIZE
    im = Image.new("RGB", (w, h), (32, 33, 36))
    d = ImageDraw.Draw(im)
    font: Any = (
        ImageFont.load_default_imagefont() if hasattr(ImageFont, "load_default_imagefont") else None
    )
    nodes = ui.get("nodes", [])
    top = 26
    x0 = min(n["pos"][0] for n in nodes)
    y0 = min(n["pos"][1] for n in nodes)
    x1 = max(n["pos"][0] + n["size"][0] for n in nodes)
    y1 = max(n["pos"][1] + n["size"][1] for n in nodes)
    s = min((w - 16) / (x1 - x0), (h - top - 8) / (y1 - y0))

    def box(n: dict[str, Any]) -> tuple[float, float, float, float]:
        x = 8 + (n["pos"][0] - x0) * s
        y = top + (n["pos"][1] - y0) * s
        return x, y, x + n["size"][0] * s, y + n["size"][1] * s

    boxes = {n["id"]: box(n) for n in nodes}
    for link in ui.get("links", []):
        _, src, _, dst, _, _ = link[:6]
        a, b = boxes[src], boxes[dst]
        d.line(
            [(a[2], (a[1] + a[3]) / 2), (b[0], (b[1] + b[3]) / 2)], fill=(120, 140, 120), width=1
        )
    for n in nodes:
        ours = n["type"] in {"ManifestLoader", "CameraPathConditioner", "VirtualCamera"}
        ours = ours or n["type"] in {"RIFEInterpolate", "NVENCEncode", "ViabilityScore"}
        fill = (46, 86, 140) if ours else (70, 70, 74)
        b = box(n)
        d.rectangle(b, fill=fill, outline=(150, 150, 160))
        if font is not None:
            d.text((b[0] + 3, b[1] + 2), n["type"][: max(1, int((b[2] - b[0] - 4) // 6))],
                   fill=(235, 235, 235), font=font)  # fmt: skip
    if font is not None:
        d.text((8, 8), title[:64], fill=(255, 255, 255), font=font)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def _thumb_for(source: Path, stem: str) -> bytes:
    return render_thumbnail(json.loads(source.read_text()), stem)


def write(folder: Path = EXAMPLES, root: Path | None = None) -> list[Path]:
    """(Re)write every template and thumbnail; remove files of templates no longer made."""
    from .fsutil import atomic_write_bytes

    want = expected(root)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, source in want.items():
        for path, data in (
            (folder / f"{stem}.json", source.read_bytes()),
            (folder / f"{stem}{THUMB_SUFFIX}", _thumb_for(source, stem)),
        ):
            if not path.is_file() or path.read_bytes() != data:
                atomic_write_bytes(path, data)
                written.append(path)
    keep = {f"{s}.json" for s in want} | {f"{s}{THUMB_SUFFIX}" for s in want}
    for stale in sorted(folder.iterdir()):
        if stale.is_file() and stale.name not in keep:
            stale.unlink()
            written.append(stale)
    return written


def check(folder: Path = EXAMPLES, root: Path | None = None) -> list[str]:
    """What is wrong with ``folder`` against the committed workflows (empty: up to date)."""
    import numpy as np
    from PIL import Image

    want = expected(root)
    problems = []
    present = {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()
    for stem, source in want.items():
        js, thumb = folder / f"{stem}.json", folder / f"{stem}{THUMB_SUFFIX}"
        if not js.is_file():
            problems.append(f"{js.name}: missing (copy of {source})")
        elif js.read_bytes() != source.read_bytes():
            problems.append(f"{js.name}: differs from {source}")
        if not thumb.is_file():
            problems.append(f"{thumb.name}: missing")
            continue
        try:
            with Image.open(thumb) as im:
                fmt, got = im.format, np.asarray(im.convert("RGB"), dtype=np.float32)
        except OSError as e:
            problems.append(f"{thumb.name}: not an image ({e})")
            continue
        with Image.open(io.BytesIO(_thumb_for(source, stem))) as im:
            fresh = np.asarray(im.convert("RGB"), dtype=np.float32)
        if fmt != "JPEG" or got.shape != fresh.shape:
            problems.append(f"{thumb.name}: not a {THUMB_SIZE[0]}x{THUMB_SIZE[1]} JPEG")
        elif float(np.abs(got - fresh).mean()) > THUMB_TOLERANCE:
            problems.append(f"{thumb.name}: does not show the current graph")
    extra = present - {f"{s}.json" for s in want} - {f"{s}{THUMB_SUFFIX}" for s in want}
    problems += [f"{name}: not a template of a released workflow" for name in sorted(extra)]
    return [f"{folder.name}/{p}" for p in problems]
