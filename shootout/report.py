"""The shootout's HTML report: one folder with ``index.html`` and ``media/``.

Tables and SVG charts are inline; per shot, every candidate's clip is shown side by
side as a poster-frame strip (PNG) and a playable preview next to its scores. The
previews are the browser-playable H.264 copies the NVENCEncode node shows
(``comfy_vidgen.encode.preview``): the deliveries are HEVC, which Chromium on Linux
does not play. Every link is relative and inside the folder, no script, font or URL
is loaded, and no machine path is shown (paths in error messages are cut to their
file name), so the folder can be copied, mailed or archived and opens offline.
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from comfy_vidgen.encode.preview import (
    PreviewError,
    poster_frames,
    preview_of_video,
    strip,
)
from comfy_vidgen.errors import VidgenError
from comfy_vidgen.fsutil import atomic_write_text, temp_dir_beside

if TYPE_CHECKING:
    from .run import ClipResult, ShootoutResult, VariantResult

log = logging.getLogger(__name__)

#: the report's folder inside ``--out``, its page and its media folder
REPORT_DIR = "report"
REPORT_PAGE = "index.html"
MEDIA_DIR = "media"
#: poster-frame strip: this many frames, evenly spaced, each this wide
STRIP_FRAMES = 4
STRIP_THUMB_W = 120
#: previews are at most this wide (the node's are 512; the report shows 2-4 per row)
PREVIEW_W = 320

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1b1b;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ccc}
h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff}
th,td{border:1px solid #d4d4d4;padding:3px 7px;text-align:right;font-variant-numeric:tabular-nums}
th{background:#eee}td.l,th.l{text-align:left}td:nth-child(2){white-space:nowrap}
tr.win td{background:#e3f6e3;font-weight:600}tr.out td{color:#888}
.ok{color:#167516}.bad{color:#b3261e}.muted{color:#777}
.grid{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
figure{margin:0;background:#fff;border:1px solid #ddd;padding:6px}
figure.win{border:2px solid #2e7d32}
figcaption{font-size:12px;max-width:660px}
figcaption dl{display:grid;grid-template-columns:max-content max-content;gap:0 12px;margin:4px 0}
figcaption dt{color:#555}figcaption dd{margin:0;font-variant-numeric:tabular-nums}
img,video{display:block;max-width:100%}svg{background:#fff;border:1px solid #ddd;margin:4px 8px 8px 0}
"""

#: an absolute POSIX path inside a message (not ``n/a``, ``USD/1000`` or ``s / 3600``)
_ABS_PATH = re.compile(r"(?<![\w.~:/-])/[^\s'\"<>;,()\[\]]+")


def scrub(text: str) -> str:
    """A message with every absolute path cut to ``.../<file name>``: a report is shared,
    and the machine it was made on is nobody's business (nor useful to the reader)."""
    return _ABS_PATH.sub(lambda m: ".../" + (Path(m.group(0)).name or ""), text)


def _e(v: Any) -> str:
    return html.escape(scrub(str(v)), quote=True)


def _f(v: float | None, nd: int = 3, unit: str = "") -> str:
    if v is None:
        return "<span class=muted>-</span>"
    return f"{v:.{nd}f}{unit}"


# --------------------------------------------------------------------------- media
@dataclass(frozen=True)
class ClipMedia:
    """A clip's files in the report folder (POSIX paths relative to the page)."""

    video: str
    strip: str
    width: int
    height: int
    strip_width: int


def make_clip_media(clip: str | os.PathLike[str], folder: Path, stem: str) -> ClipMedia:
    """``<stem>.mp4`` (H.264 preview) and ``<stem>.png`` (poster strip) in ``folder``."""
    from PIL import Image

    prev = preview_of_video(clip, folder / f"{stem}.mp4", max_width=PREVIEW_W)
    posters = poster_frames(clip, STRIP_FRAMES, STRIP_THUMB_W)
    row = strip(posters)
    Image.fromarray(row).save(folder / f"{stem}.png", optimize=True)
    rel = f"{MEDIA_DIR}/{stem}"
    return ClipMedia(f"{rel}.mp4", f"{rel}.png", prev.width, prev.height, row.shape[1])


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:80] or "x"


# --------------------------------------------------------------------------- charts
def bar_chart(
    title: str,
    items: list[tuple[str, float | None, bool]],
    unit: str = "",
    ref: tuple[float, str] | None = None,
    nd: int = 3,
) -> str:
    """Horizontal bars (label, value, highlighted) as inline SVG; ``ref`` draws a target line."""
    rows = [(lab, v, hi) for lab, v, hi in items]
    vals = [v for _, v, _ in rows if v is not None]
    if ref is not None:
        vals.append(ref[0])
    vmax = max(vals) if vals and max(vals) > 0 else 1.0
    lw, bw, rh, top = 230, 360, 22, 28
    w, h = lw + bw + 110, top + rh * len(rows) + 26
    parts = [
        f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{_e(title)}">',
        f'<text x="8" y="18" font-size="13" font-weight="600">{_e(title)}</text>',
    ]
    for i, (lab, v, hi) in enumerate(rows):
        y = top + i * rh
        parts.append(
            f'<text x="{lw - 6}" y="{y + 15}" font-size="12" text-anchor="end">{_e(lab[:36])}</text>'
        )
        if v is None:
            parts.append(f'<text x="{lw + 4}" y="{y + 15}" font-size="12" fill="#888">n/a</text>')
            continue
        bl = max(1.0, bw * v / vmax)
        color = "#2e7d32" if hi else "#5b7fa6"
        parts.append(
            f'<rect x="{lw}" y="{y + 3}" width="{bl:.1f}" height="{rh - 6}" fill="{color}"/>'
        )
        parts.append(
            f'<text x="{lw + bl + 4:.1f}" y="{y + 15}" font-size="11">{v:.{nd}f}{_e(unit)}</text>'
        )
    if ref is not None:
        x = lw + bw * ref[0] / vmax
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{h - 20}" stroke="#b3261e" '
            'stroke-dasharray="4 3"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{h - 6}" font-size="11" fill="#b3261e" text-anchor="middle">'
            f"{_e(ref[1])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def scatter(title: str, points: list[tuple[str, float, float, bool]], xl: str, yl: str) -> str:
    """Points (label, x, y, eligible) as inline SVG: quality against cost."""
    w, h, m = 520, 320, 50
    if not points:
        return ""
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    x0, x1 = 0.0, max(xs) * 1.1 or 1.0
    y0, y1 = 0.0, max(1.0, max(ys))

    def px(x: float) -> float:
        return m + (w - 2 * m) * (x - x0) / (x1 - x0)

    def py(y: float) -> float:
        return h - m - (h - 2 * m) * (y - y0) / (y1 - y0)

    parts = [
        f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{_e(title)}">',
        f'<text x="8" y="18" font-size="13" font-weight="600">{_e(title)}</text>',
        f'<line x1="{m}" y1="{h - m}" x2="{w - m}" y2="{h - m}" stroke="#444"/>',
        f'<line x1="{m}" y1="{m}" x2="{m}" y2="{h - m}" stroke="#444"/>',
        f'<text x="{w / 2}" y="{h - 12}" font-size="12" text-anchor="middle">{_e(xl)}</text>',
        f'<text x="14" y="{h / 2}" font-size="12" transform="rotate(-90 14 {h / 2})" '
        f'text-anchor="middle">{_e(yl)}</text>',
    ]
    for t in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{m - 6}" y="{py(t * y1) + 4:.1f}" font-size="10" text-anchor="end">'
            f"{t * y1:.2f}</text>"
        )
        parts.append(
            f'<text x="{px(t * x1):.1f}" y="{h - m + 14}" font-size="10" text-anchor="middle">'
            f"{t * x1:.3g}</text>"
        )
    for lab, x, y, ok in points:
        color = "#2e7d32" if ok else "#b3261e"
        parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="5" fill="{color}"/>')
        parts.append(
            f'<text x="{px(x) + 7:.1f}" y="{py(y) - 6:.1f}" font-size="11">{_e(lab[:28])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- sections
def _table(
    head: list[str], rows: Iterable[tuple[str, list[str]]], left: int = 1, last_left: bool = False
) -> str:
    """A table whose first ``left`` columns (and the last, with ``last_left``) are text."""

    def lcls(i: int) -> str:
        return " class=l" if i < left or (last_left and i == len(head) - 1) else ""

    th = "".join(f"<th{lcls(i)}>{h}</th>" for i, h in enumerate(head))
    body = []
    for cls, cells in rows:
        tds = "".join(f"<td{lcls(i)}>{c}</td>" for i, c in enumerate(cells))
        body.append(f'<tr class="{cls}">{tds}</tr>')
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _row_class(r: VariantResult, winner: VariantResult | None) -> str:
    return "win" if r is winner else ("" if r.eligible else "out")


def _params(r: VariantResult) -> str:
    return _e(", ".join(f"{k}={v}" for k, v in sorted(r.variant.params.items())) or "-")


def _summary(res: ShootoutResult) -> str:
    cfg = res.config
    rows = []
    for r in sorted(res.variants, key=lambda r: r.rank or 0):
        verdict = (
            '<span class="ok">eligible</span>'
            if r.eligible
            else '<span class="bad">' + _e("; ".join(r.failures)) + "</span>"
        )
        rows.append(
            (
                _row_class(r, res.winner),
                [
                    str(r.rank),
                    _e(r.variant.key),
                    _e(r.variant.workflow),
                    _e(r.variant.engine),
                    _params(r),
                    verdict,
                    _f(r.score),
                    _f(r.pass_rate * 100, 0, "%") if r.runnable else "-",
                    _f(r.qc_score),
                    _f(r.gpu_s_median, 2),
                    _f(r.cost_per_1000, 2),
                    str(r.clips_per_day) if r.runnable else "-",
                ],
            )
        )
    th = cfg.thresholds
    min_cpd = th.min_clips_per_day if th.min_clips_per_day is not None else cfg.target_per_day
    win = (
        f"<p><b>Winner: {_e(res.winner.variant.key)}</b> ({_e(res.winner.variant.label)}, "
        f"{_e(res.winner.variant.engine)} engine), written to <code>locked-settings.json</code>.</p>"
        if res.winner
        else '<p class="bad"><b>No winner</b>: no variant met every hard threshold.</p>'
    )
    rules = (
        f"Hard thresholds: QC pass rate &ge; {th.min_pass_rate:.0%}, QC score &ge; "
        f"{th.min_score:.2f}"
        + (
            f", cost per clip &le; {th.max_cost_per_clip} {_e(cfg.currency)}"
            if th.max_cost_per_clip
            else ""
        )
        + f", &ge; {min_cpd} clips/day on {cfg.gpus} GPU(s). Score = "
        f"({cfg.weights.quality:g} &times; QC score + {cfg.weights.cost:g} &times; relative cost)"
        f" / {cfg.weights.quality + cfg.weights.cost:g}; relative cost = cheapest cost per passing "
        "clip / this one."
    )
    table = _table(
        [
            "rank",
            "variant",
            "workflow",
            "engine",
            "parameters",
            "hard thresholds",
            "score",
            "QC pass",
            "QC score",
            "GPU s/clip",
            f"{_e(cfg.currency)}/1000 clips",
            "clips/day",
        ],
        rows,
        left=6,
    )
    pts = [
        (r.variant.key, r.cost_per_1000, r.qc_score, r.eligible)
        for r in res.variants
        if r.cost_per_1000 is not None
    ]
    chart = scatter("QC score vs cost", pts, f"{cfg.currency} per 1000 clips", "mean QC score")
    return (
        f'<section id="summary"><h2>Summary</h2>{win}<p class="muted">{rules}</p>{table}'
        f"{chart}</section>"
    )


_METRICS = [
    ("stability.ssim_mean", "SSIM mean", "mean"),
    ("stability.ssim_min", "SSIM min", "min"),
    ("stability.flicker_hf_max", "flicker max", "max"),
    ("stability.frozen_frames", "frozen", "max"),
    ("stability.motion_jerk_px", "jerk px", "max"),
    ("stability.judder_near_duplicates", "near-dup steps", "max"),
    ("fidelity.ssim", "first-frame SSIM", "mean"),
    ("path.mean_px", "path err px", "mean"),
    ("motion.mean_px", "motion px/frame", "mean"),
]


def _metric(m: dict[str, Any], dotted: str) -> float | None:
    cur: Any = m
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return float(cur) if isinstance(cur, int | float) and not isinstance(cur, bool) else None


def _flash_ok(m: dict[str, Any]) -> bool | None:
    fl = m.get("flash")
    if not isinstance(fl, dict):
        return None
    return all(bool(v.get("passed")) for v in fl.values() if isinstance(v, dict))


def _metrics_section(res: ShootoutResult) -> str:
    head = ["variant", *[lab + f" ({agg})" for _, lab, agg in _METRICS], "flash rules"]
    rows = []
    for r in res.variants:
        clips = [c for c in r.clips if c.qc_metrics]
        cells = [_e(r.variant.key)]
        for dotted, _lab, agg in _METRICS:
            vals = [v for c in clips if (v := _metric(c.qc_metrics, dotted)) is not None]
            if not vals:
                cells.append(_f(None))
                continue
            v = {"mean": sum(vals) / len(vals), "min": min(vals), "max": max(vals)}[agg]
            cells.append(_f(v, 3))
        fl = [_flash_ok(c.qc_metrics) for c in clips]
        cells.append(f"{sum(1 for x in fl if x)}/{len(fl)} pass" if fl else _f(None))
        rows.append((_row_class(r, res.winner), cells))
    per_clip = []
    for r in res.variants:
        for c in r.clips:
            verdict = (
                '<span class="ok">pass</span>' if c.qc_passed else '<span class="bad">fail</span>'
            )
            per_clip.append(
                (
                    "",
                    [
                        _e(r.variant.key),
                        _e(c.shot),
                        _e(c.state),
                        verdict,
                        _f(c.qc_score),
                        _f(c.gpu_s, 2),
                        _e(c.instance or "-"),
                        _e("; ".join(c.qc_reasons) or "-"),
                    ],
                )
            )
    clip_table = _table(
        ["variant", "shot", "job", "QC", "score", "GPU s", "instance", "reasons"],
        per_clip,
        left=4,
        last_left=True,
    )
    return (
        '<section id="metrics"><h2>Per-candidate QC metrics</h2>'
        f"<p class=muted>Aggregated over each variant's clips (profile "
        f"<code>{_e(res.config.profile)}</code>; definitions in docs/qc.md).</p>"
        f"{_table(head, rows)}<h3>Per clip</h3>{clip_table}</section>"
    )


def _cost_section(res: ShootoutResult) -> str:
    cfg = res.config
    cur = _e(cfg.currency)
    rows = []
    for r in res.variants:
        if not r.runnable:
            rows.append(("out", [_e(r.variant.key), "-", "-", "-", "-", "-", _e(r.note or "")]))
            continue
        rows.append(
            (
                _row_class(r, res.winner),
                [
                    _e(r.variant.key),
                    _f(r.gpu_s_median, 2),
                    _f(r.gpu_s_mean, 2),
                    _f(r.cost_per_clip, 5),
                    _f(r.cost_per_1000, 2),
                    _f(r.cost_per_passing_clip, 5),
                    _e(r.variant.engine),
                ],
            )
        )
    table = _table(
        [
            "variant",
            "GPU s/clip (median)",
            "GPU s/clip (mean)",
            f"{cur}/clip",
            f"{cur}/1000 clips",
            f"{cur}/passing clip",
            "engine / note",
        ],
        rows,
        last_left=True,
    )
    chart = bar_chart(
        f"{cfg.currency} per 1000 clips",
        [(r.variant.key, r.cost_per_1000, r is res.winner) for r in res.variants if r.runnable],
        nd=2,
    )
    return (
        '<section id="cost"><h2>Cost</h2>'
        f"<p class=muted>Price {cfg.price_per_gpu_hour:g} {cur} per GPU-hour. GPU seconds per "
        "clip = the median of the execution times in the audit records (ComfyUI history "
        "timestamps on the rack; the in-process run on the local engine, whose device is this "
        "machine's CPU). Cost per clip = GPU s / 3600 &times; price; per passing clip = cost "
        f"per clip / QC pass rate.</p>{table}{chart}</section>"
    )


def _capacity_section(res: ShootoutResult) -> str:
    cfg = res.config
    rows = []
    for r in res.variants:
        if not r.capacity:
            continue
        topo = r.capacity["topologies"]
        rows.append(
            (
                _row_class(r, res.winner),
                [
                    _e(r.variant.key),
                    _f(r.stages.get("gen"), 2),
                    _f(r.stages.get("interp"), 2),
                    _f(r.stages.get("encode"), 2),
                    str(topo["symmetric"]["clips_per_day"]),
                    _e(topo["symmetric"]["bottleneck"]),
                    str(topo["split"]["clips_per_day"]),
                    _e(topo["split"]["bottleneck"]),
                    str(r.gpus_for_target or "-"),
                    '<span class="ok">yes</span>'
                    if r.clips_per_day >= cfg.target_per_day
                    else '<span class="bad">no</span>',
                ],
            )
        )
    table = _table(
        [
            "variant",
            "gen s",
            "RIFE s",
            "encode s",
            "symmetric clips/day",
            "bottleneck",
            "split clips/day",
            "bottleneck",
            "GPUs for target",
            "meets target",
        ],
        rows,
    )
    chart = bar_chart(
        f"clips/day on {cfg.gpus} GPU(s)",
        [
            (r.variant.key, float(r.clips_per_day), r is res.winner)
            for r in res.variants
            if r.capacity
        ],
        ref=(float(cfg.target_per_day), f"target {cfg.target_per_day}/day"),
        nd=0,
    )
    return (
        '<section id="capacity"><h2>Capacity</h2>'
        f"<p class=muted>{cfg.gpus} GPU(s), target {cfg.target_per_day} clips/day "
        "(<code>vidgen capacity</code>: symmetric = every GPU runs the whole workflow; split = "
        "generation GPUs + RIFE/encode GPUs). On the ComfyUI engine only whole-prompt times "
        "are known, so all of it counts as generation.</p>"
        f"{table}{chart}</section>"
    )


def _clip_caption(r: VariantResult, c: ClipResult) -> str:
    verdict = (
        '<span class="ok">QC pass</span>' if c.qc_passed else '<span class="bad">QC fail</span>'
    )
    rows = [
        ("rank", f"{r.rank}" + (" (winner)" if r.eligible and r.rank == 1 else "")),
        ("variant score", _f(r.score)),
        ("clip QC", f"{verdict} {_f(c.qc_score)}"),
        ("variant QC pass", _f(r.pass_rate * 100, 0, "%")),
        ("GPU s", _f(c.gpu_s, 2)),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    reasons = "; ".join(c.qc_reasons)
    why = f"<div class=muted>{_e(reasons)}</div>" if reasons else ""
    return (
        f"<b>{_e(r.variant.key)}</b> <span class=muted>{_e(r.variant.label)}</span>"
        f"<dl>{dl}</dl>{why}"
    )


def _shots_section(res: ShootoutResult, media: dict[tuple[str, str], ClipMedia | str]) -> str:
    """Per shot, the candidates side by side (best rank first): what was judged."""
    ranked = sorted((r for r in res.variants if r.runnable), key=lambda r: r.rank or 0)
    shots: list[str] = []
    for r in ranked:
        for c in r.clips:
            if c.shot not in shots:
                shots.append(c.shot)
    parts = []
    for shot in shots:
        figs = []
        for r in ranked:
            clip = next((c for c in r.clips if c.shot == shot), None)
            if clip is None:
                continue
            c = clip
            cls = ' class="win"' if r is res.winner else ""
            m = media.get((r.variant.key, shot))
            if isinstance(m, ClipMedia):  # as wide as its strip: long QC reasons wrap
                cls += f' style="width:{max(m.strip_width, m.width)}px"'
                alt = _e(f"{r.variant.key} / {shot}")
                body = (
                    f'<video src="{m.video}" width="{m.width}" height="{m.height}" controls loop '
                    f'muted playsinline preload="metadata"></video>'
                    f'<img src="{m.strip}" alt="{alt}: {STRIP_FRAMES} frames, first to last">'
                )
            else:
                body = f'<p class="bad">{_e(m or c.error or f"no clip ({c.state})")}</p>'
            figs.append(
                f"<figure{cls}>{body}<figcaption>{_clip_caption(r, c)}</figcaption></figure>"
            )
        parts.append(f'<h3>{_e(shot)}</h3><div class="grid">{"".join(figs)}</div>')
    return (
        '<section id="shots"><h2>Shots: the candidates side by side</h2>'
        f"<p class=muted>Per shot, every candidate's clip, best rank first: an H.264 preview "
        f"(at most {PREVIEW_W} px wide; the deliveries are HEVC, which browsers on Linux do "
        f"not play) and {STRIP_FRAMES} frames evenly spaced from first to last, next to the "
        f"clip's QC verdict and the variant's score.</p>{''.join(parts)}</section>"
    )


def render_report(
    res: ShootoutResult, media: dict[tuple[str, str], ClipMedia | str] | None = None
) -> str:
    """The page; ``media`` maps (variant key, shot) to its files, or to why there are none."""
    cfg = res.config
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(res.finished_at or time.time()))
    shots = max((len(r.clips) for r in res.variants), default=0)
    head = (
        f"<h1>{_e(cfg.title)}</h1><p class=muted>{_e(Path(res.source).name)} &middot; {when} "
        f"&middot; {len(res.variants)} variant(s) &times; {shots} shot(s) &middot; QC profile "
        f"<code>{_e(cfg.profile)}</code> &middot; {cfg.gpus} GPU(s) at {cfg.price_per_gpu_hour:g} "
        f"{_e(cfg.currency)}/GPU-hour &middot; target {cfg.target_per_day} clips/day</p>"
    )
    body = (
        head
        + _summary(res)
        + _shots_section(res, media or {})
        + _metrics_section(res)
        + _cost_section(res)
        + _capacity_section(res)
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(cfg.title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def write_report(res: ShootoutResult, folder: Path) -> Path:
    """Build the report folder beside ``folder`` and swap it in whole; returns the page.

    A reader never sees a half-written report, and media of an older run never linger.
    """
    stage = temp_dir_beside(folder)
    try:
        media_dir = stage / MEDIA_DIR
        media_dir.mkdir()
        media: dict[tuple[str, str], ClipMedia | str] = {}
        used: set[str] = set()
        for r in res.variants:
            for c in r.clips:
                if not c.path or not Path(c.path).is_file():
                    continue
                stem = f"{_safe(c.shot)}--{_safe(r.variant.key)}"
                while stem in used:
                    stem += "-"
                used.add(stem)
                try:
                    media[(r.variant.key, c.shot)] = make_clip_media(c.path, media_dir, stem)
                except (PreviewError, VidgenError, OSError) as e:
                    # the report still shows everything else
                    log.warning("no preview of %s: %s", c.path, e)
                    media[(r.variant.key, c.shot)] = f"no preview: {e}"
        atomic_write_text(stage / REPORT_PAGE, render_report(res, media))
        old = None
        if folder.exists():
            old = temp_dir_beside(folder)
            os.replace(folder, old / "previous")
        os.replace(stage, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return folder / REPORT_PAGE
