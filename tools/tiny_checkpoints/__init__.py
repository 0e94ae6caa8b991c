"""Tiny, seeded random checkpoints that the pinned ComfyUI detects as the real models.

Each family module (``wan``, ``svd``, ``ltxv``) exposes ``BUILDERS``: lock file name ->
builder. ``tools/make_tiny_checkpoints.py`` merges them, runs them in ComfyUI's interpreter
and caches the output; nothing here is ever written into a ComfyUI ``models/`` folder.
"""
