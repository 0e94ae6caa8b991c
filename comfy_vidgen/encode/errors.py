"""Errors of the delivery encoder (all VidgenError: a rejected item, exit code 1)."""

from __future__ import annotations

from ..errors import VidgenError


class EncodeError(VidgenError):
    """The encode could not be done as asked."""


class FrameError(EncodeError):
    """A frame has the wrong shape, size, dtype or values."""


class EncoderUnavailable(EncodeError):
    """The encoder asked for explicitly cannot be opened on this machine."""


class AudioError(EncodeError):
    """The audio input is unreadable or unusable."""


class ProbeError(EncodeError):
    """A media file cannot be read or has no video stream."""
