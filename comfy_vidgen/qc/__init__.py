"""Objective QC of rendered clips and the delivery gate.

``run_qc`` decodes a clip once and measures structure, temporal stability,
photosensitive flashes (WCAG 2.3.1, ITU-R BT.1702) and regular patterns
(BT.1702, Ofcom GN1), fidelity to the keyframe,
camera-path adherence and motion; ``gate`` applies a TOML profile of hard
thresholds and weights. Definitions and references: ``docs/qc.md``.
"""

from __future__ import annotations

from .core import (
    Analyzer,
    Curves,
    QCError,
    QCReport,
    analyze_frames,
    iter_frames,
    render_crop,
    run_qc,
    verifier_gate,
)
from .profile import GateResult, Profile, ProfileError, gate, load_profile

__all__ = [
    "Analyzer",
    "Curves",
    "GateResult",
    "Profile",
    "ProfileError",
    "QCError",
    "QCReport",
    "analyze_frames",
    "gate",
    "iter_frames",
    "load_profile",
    "render_crop",
    "run_qc",
    "verifier_gate",
]
