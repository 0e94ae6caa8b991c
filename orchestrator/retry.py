"""Error classes and the retry policy: what is worth another try, where, and when."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class ErrorClass(StrEnum):
    TRANSPORT = "transport"  # connection refused, timeout, 5xx, websocket gone: retry elsewhere
    OOM = "oom"  # CUDA out of memory on the instance: retry elsewhere
    LOST = "lost"  # the attempt vanished (instance restart lost its queue): resubmit
    INTERRUPTED = "interrupted"  # someone pressed cancel on the instance: resubmit
    OUTPUT_MISSING = "output_missing"  # history says success but the file is absent
    HASH_MISMATCH = "hash_mismatch"  # downloaded bytes differ from the node's report
    VALIDATION = "validation"  # 400 with node_errors: the graph/input is wrong
    MANIFEST = "manifest"  # the ManifestLoader refused the manifest
    LINT = "lint"  # the workflow has a literal where the manifest must decide
    EXECUTION = "execution"  # any other node exception: reported with the node's message
    VERIFY = "verify"  # decoded output has the wrong frames/fps/size/codec
    QC = "qc"  # the clip decodes right but fails the QC gate: rejected with the gate's reasons
    OVER_BUDGET = "over_budget"  # ran past the fleet's job_budget_s: interrupted, moved elsewhere


RETRYABLE = frozenset(
    {
        ErrorClass.TRANSPORT,
        ErrorClass.OOM,
        ErrorClass.LOST,
        ErrorClass.INTERRUPTED,
        ErrorClass.OUTPUT_MISSING,
        ErrorClass.HASH_MISMATCH,
        ErrorClass.OVER_BUDGET,
    }
)
#: the input itself is refused: the job ends ``rejected`` (vs ``failed``)
REJECTING = frozenset({ErrorClass.VALIDATION, ErrorClass.MANIFEST, ErrorClass.LINT, ErrorClass.QC})


def classify_execution_error(exception_type: str, exception_message: str) -> ErrorClass:
    """Map an ``execution_error`` event/history message to an error class."""
    t, m = exception_type.lower(), exception_message.lower()
    if "outofmemory" in t or "out of memory" in m or "allocation on device" in m:
        return ErrorClass.OOM
    if "manifesterror" in t:
        return ErrorClass.MANIFEST
    return ErrorClass.EXECUTION


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff. Lost attempts (not the job's fault) have their own cap."""

    max_attempts: int = 4
    max_lost: int = 10
    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0
    jitter: float = 0.1

    def backoff(self, failures: int, rng: random.Random | None = None) -> float:
        """Delay before the next try after ``failures`` failed attempts (>= 1)."""
        d = min(self.max_s, self.base_s * self.factor ** max(0, failures - 1))
        r = (rng or random).random()
        return d * (1.0 + self.jitter * (2 * r - 1))

    def should_retry(self, cls: ErrorClass, failures: int, lost: int) -> bool:
        if cls not in RETRYABLE:
            return False
        if cls is ErrorClass.LOST:
            return lost < self.max_lost
        return failures < self.max_attempts
