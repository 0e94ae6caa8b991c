"""RIFE 4.25 frame interpolation: our IFNet, strict weight loading, exact retime.

Importing this package imports torch; command modules import it inside handlers.
"""

from __future__ import annotations

from .ifnet import IFNet, gate_logit, pad_multiple, synthesize
from .retime import (
    DEFAULT_CUT_HIST,
    DEFAULT_CUT_SSIM,
    DEFAULT_TIMING,
    RELEASED_GRAPH_TIMING,
    TIMINGS,
    RetimeError,
    RetimeResult,
    Sample,
    detect_cuts,
    retime,
    schedule,
)
from .weights import LoadedModel, WeightsError, load_ifnet

__all__ = [
    "DEFAULT_CUT_HIST",
    "DEFAULT_CUT_SSIM",
    "DEFAULT_TIMING",
    "IFNet",
    "LoadedModel",
    "RELEASED_GRAPH_TIMING",
    "RetimeError",
    "RetimeResult",
    "Sample",
    "TIMINGS",
    "WeightsError",
    "detect_cuts",
    "gate_logit",
    "load_ifnet",
    "pad_multiple",
    "retime",
    "schedule",
    "synthesize",
]
