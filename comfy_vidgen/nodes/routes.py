"""HTTP routes of the camera-path editor, registered on ComfyUI's server when it runs.

Importing this module outside ComfyUI does nothing (``server.PromptServer`` is not
importable there); inside ComfyUI it adds the ``POST /vidgen/<name>`` routes of
``editor_api.ROUTES`` (ComfyUI also mounts them under ``/api``). The logic lives
in ``comfy_vidgen.editor_api``; ``add_routes`` is reused by the browser-test
harness so the tests exercise these very handlers.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..editor_api import ROUTES, handle

log = logging.getLogger(__name__)


def add_routes(routes: Any, input_dir: Callable[[], Path]) -> None:
    """Add the editor routes to an aiohttp ``RouteTableDef``; the work runs off the event loop."""
    from aiohttp import web

    def make(name: str) -> Callable[[Any], Any]:
        async def handler(request: web.Request) -> web.Response:
            raw = await request.read()
            loop = asyncio.get_running_loop()
            resp = await loop.run_in_executor(None, handle, name, input_dir(), raw)
            return web.json_response(resp.body, status=resp.status)

        handler.__name__ = f"vidgen_{name}"
        return handler

    for name in ROUTES:
        routes.post(f"/vidgen/{name}")(make(name))


def _register_with_comfyui() -> bool:
    try:
        server = importlib.import_module("server")
    except ImportError:
        return False
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    if instance is None:
        return False
    if getattr(instance, "_vidgen_editor_routes", False):  # module imported twice
        return True
    from ._comfy import input_directory

    add_routes(instance.routes, input_directory)
    instance._vidgen_editor_routes = True
    log.info("vidgen editor routes registered: %s", ", ".join(f"/vidgen/{n}" for n in ROUTES))
    return True


REGISTERED = _register_with_comfyui()
