"""A small web server on 127.0.0.1 for the editor's browser test without ComfyUI.

It serves what ComfyUI would: the pack's web folder under ``/extensions/comfy-vidgen/``,
stand-ins for ``/scripts/app.js`` and ``/scripts/api.js`` (tests/js/harness/scripts),
input-folder images at ``/api/view``, and the pack's real editor routes under
``/api/vidgen/`` (``comfy_vidgen.nodes.routes.add_routes``, the code ComfyUI runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

from comfy_vidgen.editor_api import EditorRequestError, input_image
from comfy_vidgen.nodes.routes import add_routes

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "comfy_vidgen" / "web"
HARNESS = ROOT / "tests" / "js" / "harness"


def make_app(input_dir: Path) -> web.Application:
    api = web.RouteTableDef()
    add_routes(api, lambda: input_dir)

    @api.get("/view")
    async def view(request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("type", "output") != "input":
            raise web.HTTPBadRequest(text="the harness serves input-folder images only")
        sub = q.get("subfolder", "")
        name = f"{sub}/{q.get('filename', '')}" if sub else q.get("filename", "")
        try:
            return web.FileResponse(input_image(input_dir, name))
        except EditorRequestError as e:
            raise web.HTTPNotFound(text=str(e)) from None

    api_app = web.Application()
    api_app.add_routes(api)
    app = web.Application()
    app.add_subapp("/api/", api_app)

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(HARNESS / "index.html")

    app.router.add_get("/", index)
    app.router.add_static("/scripts/", HARNESS / "scripts")
    app.router.add_static("/extensions/comfy-vidgen/", WEB)
    return app


@contextlib.contextmanager
def serving(input_dir: Path) -> Iterator[str]:
    """Run the harness in a background thread; yields its base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(input_dir))
    started = threading.Event()
    url: list[str] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url.append(f"http://127.0.0.1:{port}")
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="editor-harness", daemon=True)
    thread.start()
    if not started.wait(30):
        raise RuntimeError("editor harness did not start")
    try:
        yield url[0]
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
