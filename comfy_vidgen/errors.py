"""Error types that map expected mistakes to clear messages and exit codes.

Library code raises these; the CLI prints ``vidgen: error: <message>`` and exits
with ``exit_code`` instead of showing a traceback.
"""

from __future__ import annotations


class VidgenError(Exception):
    """An expected failure caused by the input (a rejected item): exit code 1."""

    exit_code = 1


class UsageError(VidgenError):
    """The command line itself is wrong: exit code 2."""

    exit_code = 2
