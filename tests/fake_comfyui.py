"""A fake ComfyUI for tests: real HTTP + websocket on loopback, ComfyUI v0.3.64 shapes.

It speaks the routes the orchestrator uses (``/prompt``, ``/ws``, ``/history``,
``/queue``, ``/interrupt``, ``/upload/image``, ``/view``, ``/system_stats``,
``/object_info``) with the same JSON bodies and event order as the pinned
ComfyUI. It validates a prompt like ComfyUI against the committed ``/object_info``
snapshot (and refuses input names the nodes do not declare), then executes what
the graph says: each node's inputs are resolved from literals and links, the
ManifestLoader validates the inline manifest against the uploaded keyframe, and
NVENCEncode writes a real small H.265 mp4 plus its sidecar with the frame count,
size, fps and encoder that reach it through the graph.

Faults are injected on demand (``faults``; or ``POST /fake/faults`` when it runs
as a subprocess): 500s, slow responses, websocket drops, OOM execution errors,
wrong frame counts, missing outputs, wrong reported hashes; ``restart()`` loses
the queue and history exactly like a real restart (files on disk survive).

Run standalone (the benchmarks do): ``PYTHONPATH=tests python -m fake_comfyui --root DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import inspect
import io
import json
import logging
import os
import random
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from comfy_vidgen.fsutil import atomic_write_bytes
from comfy_vidgen.manifest_loading import LoadedManifest
from comfy_vidgen.nodes import NODE_CLASS_MAPPINGS
from comfy_vidgen.nodes.manifest import ManifestLoader
from comfy_vidgen.workflow_graph import load_object_info

log = logging.getLogger(__name__)

FAKE_VERSION = "0.3.64"

#: the pack's nodes the fake executes: their ``/object_info`` entries (inputs, outputs,
#: combos) are the committed snapshot of the pinned ComfyUI + pack, as the real one serves
PACK_NODES = (
    "ManifestLoader",
    "CameraPathConditioner",
    "VirtualCamera",
    "RIFEInterpolate",
    "NVENCEncode",
)

#: nodes that report ``progress`` while they run (the real ones: per frame)
PROGRESS_NODES = frozenset({"VirtualCamera", "RIFEInterpolate", "NVENCEncode"})
#: nodes whose work (hashing, encoding) runs off the event loop
THREADED_NODES = frozenset({"ManifestLoader", "NVENCEncode"})

#: what the fake's NVENC probe finds: a rack whose FFmpeg lacks NVENC (``auto`` falls
#: back to libx265 and says why; an explicit ``hevc_nvenc`` is an execution error)
NO_NVENC = "the fake ComfyUI has no hevc_nvenc encoder"

#: ComfyUI's casts of widget literals before it checks them (execution.py validate_inputs)
_CASTS: dict[str, Callable[[Any], Any]] = {
    "INT": int,
    "FLOAT": float,
    "STRING": str,
    "BOOLEAN": bool,
}


@functools.cache
def node_schemas() -> dict[str, dict[str, Any]]:
    """``/object_info`` entries of ``PACK_NODES`` from the committed snapshot."""
    info = load_object_info()
    return {k: info[k] for k in PACK_NODES}


@functools.cache
def custom_validation(cls: str) -> tuple[Callable[..., Any] | None, tuple[str, ...], bool]:
    """The pack node's own ``VALIDATE_INPUTS`` (the real one), its argument names, and
    whether it takes ``**kwargs``: ComfyUI skips its min/max/combo checks for those."""
    fn = getattr(NODE_CLASS_MAPPINGS.get(cls), "VALIDATE_INPUTS", None)
    if fn is None:
        return None, (), False
    spec = inspect.getfullargspec(fn)
    return fn, tuple(spec.args), spec.varkw is not None


def _types_match(received: Any, expected: Any) -> bool:
    """ComfyUI's non-strict ``validate_node_input`` (comfy_execution/validation.py)."""
    if received == expected:
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False  # e.g. a combo input fed by an INT output
    return bool({t.strip() for t in received.split(",")} & {t.strip() for t in expected.split(",")})


def _type_name(t: type) -> str:
    """ComfyUI's ``full_type_name``: what ``exception_type`` reports."""
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _exception_reason(kind: str, ex: BaseException) -> dict[str, Any]:
    return {
        "type": kind,
        "message": "Exception when validating node",
        "details": str(ex),
        "extra_info": {
            "exception_type": _type_name(type(ex)),
            "traceback": traceback.format_tb(ex.__traceback__),
        },
    }


@dataclass(frozen=True)
class Frames:
    """An IMAGE batch as the fake sees it: its shape, and how to make its pixels
    (``pixels() -> uint8 [N, H, W, 3]``) when the clip must show the real picture."""

    count: int
    width: int
    height: int
    pixels: Callable[[], Any] | None = None


@dataclass(frozen=True)
class Deferred:
    """An output made only when a node consumes it (the benchmarks' fakes skip what
    no node reads, e.g. the conditioner's motion bucket: 9 ms a job)."""

    make: Callable[[], Any]


def loader_outputs(loaded: LoadedManifest, keyframe: Frames) -> dict[str, Any]:
    """ManifestLoader's outputs by name: the node returns ``(image, manifest,
    *loaded.parameters())`` in ``RETURN_NAMES`` order."""
    names = ManifestLoader.RETURN_NAMES
    params = dict(zip(names[2:], loaded.parameters(), strict=True))
    return {names[0]: keyframe, names[1]: loaded.manifest, **params}


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2


def execution_order(prompt: dict[str, Any], outputs: list[str]) -> list[str]:
    """The nodes the outputs need, each after the nodes it links from (prompt order
    otherwise); like ComfyUI, a node no output needs does not run."""
    needed: set[str] = set()

    def need(nid: str) -> None:
        if nid not in needed:
            needed.add(nid)
            for v in prompt[nid]["inputs"].values():
                if _is_link(v):
                    need(str(v[0]))

    for o in outputs:
        need(o)
    order: list[str] = []
    done: set[str] = set()

    def visit(nid: str) -> None:
        if nid not in done:
            done.add(nid)
            for v in prompt[nid]["inputs"].values():
                if _is_link(v):
                    visit(str(v[0]))
            order.append(nid)

    for nid in prompt:
        if nid in needed:
            visit(nid)
    return order


def resolve_inputs(
    prompt: dict[str, Any], node_id: str, values: dict[str, tuple[Any, ...]]
) -> dict[str, Any]:
    """The node's declared inputs: literals as validated, links as the producer's output."""
    node = prompt[node_id]
    decl = node_schemas()[node["class_type"]]["input"]
    kwargs: dict[str, Any] = {}
    for section in ("required", "optional"):
        for name in decl.get(section) or {}:
            if name in node["inputs"]:
                v = node["inputs"][name]
                if _is_link(v):
                    v = values[str(v[0])][v[1]]
                    v = v.make() if isinstance(v, Deferred) else v
                kwargs[name] = v
    return kwargs


@dataclass
class Faults:
    """Counters of faults to inject: each injection decrements its counter.

    ``p_*`` are probabilities applied on top (random mode, seeded) for chaos runs.
    """

    submit_500: int = 0
    oom: int = 0
    ws_drop: int = 0
    #: the open websockets go quiet (stay open, deliver nothing), as ComfyUI's can (#9393)
    ws_silent: int = 0
    #: the next POST /prompt answers only after ``hang_s`` (it is queued all the same)
    hang_prompt: int = 0
    hang_s: float = 0.0
    wrong_frames: int = 0
    missing_output: int = 0
    bad_hash: int = 0
    manifest_error: int = 0
    slow_s: float = 0.0
    p_submit_500: float = 0.0
    p_oom: float = 0.0
    p_ws_drop: float = 0.0
    p_ws_silent: float = 0.0
    p_missing_output: float = 0.0
    p_bad_hash: float = 0.0
    p_slow: float = 0.0


@dataclass
class _Run:
    number: float | int
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]

    def item(self) -> list[Any]:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]


@dataclass
class FakeStats:
    submitted: int = 0
    executed: int = 0
    ws_connections: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    #: job_id (NVENCEncode input) -> number of completed executions that wrote it
    completed_job_ids: dict[str, int] = field(default_factory=dict)

    def fault(self, name: str) -> None:
        self.faults[name] = self.faults.get(name, 0) + 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_VIDEO_CACHE: dict[tuple[int, int, int, int], bytes] = {}
_PREVIEW_CACHE: dict[str, bytes] = {}
_VIDEO_LOCK = threading.Lock()


def make_test_video(width: int, height: int, frames: int, fps: int) -> bytes:
    """A real H.265 mp4 of a moving gradient (cached: identical inputs give identical bytes)."""
    key = (width, height, frames, fps)
    with _VIDEO_LOCK:
        if key in _VIDEO_CACHE:
            return _VIDEO_CACHE[key]
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx265", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "ultrafast", "x265-params": "log-level=none"}
        yy, xx = np.mgrid[0:height, 0:width]
        for i in range(frames):
            img = np.stack(
                [(xx * 4 + i * 9) % 256, (yy * 4) % 256, np.full_like(xx, (i * 31) % 256)], -1
            ).astype(np.uint8)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    data = buf.getvalue()
    with _VIDEO_LOCK:
        _VIDEO_CACHE[key] = data
    return data


class FakeComfyUI:
    """One fake instance; ``start()`` serves on 127.0.0.1 from a background thread."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        port: int = 0,
        exec_s: float = 0.0,
        zero_work: bool = False,
        faults: Faults | None = None,
        seed: int = 0,
        device_name: str = "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync",
        render: str = "gradient",
    ) -> None:
        self.root = Path(root)
        self.input_dir = self.root / "input"
        self.output_dir = self.root / "output"
        self.temp_dir = self.root / "temp"
        self.input_dir.mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or _free_port()
        self.exec_s = exec_s
        self.zero_work = zero_work
        #: "gradient": a cached synthetic clip (flickers over many frames: fails QC);
        #: "camera": the manifest's camera path over the uploaded keyframe (passes QC)
        self.render = render
        self.faults = faults or Faults()
        self.device_name = device_name
        self.stats = FakeStats()
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._reset_state()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ lifecycle
    def _reset_state(self) -> None:
        self._queue: list[_Run] = []
        self._running: _Run | None = None
        self._history: dict[str, dict[str, Any]] = {}
        self._silent: set[int] = set()  # id() of sockets that deliver nothing
        #: the prompt a ``ws_silent`` fault hit: a socket that connects while it runs
        #: greets and then goes quiet too (the dispatcher may submit before its socket is up)
        self._silent_prompt: str | None = None
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._number = 0
        self._interrupt = False
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> FakeComfyUI:
        if self._thread is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name=f"fake-comfyui-{self.port}", daemon=True
            )
            self._thread.start()
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._astart(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        """Shut the server down (queue, running item and history are lost)."""
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._astop(), self._loop).result(timeout=30)

    def close(self) -> None:
        self.stop()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
        self._loop, self._thread = None, None

    def restart(self) -> None:
        """Like a ComfyUI process restart: same port and folders, empty queue and history."""
        self.stop()
        self.start()

    def __enter__(self) -> FakeComfyUI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_faults(self, **kw: Any) -> None:
        for k, v in kw.items():
            if not hasattr(self.faults, k):
                raise AttributeError(f"unknown fault {k!r}")
            setattr(self.faults, k, v)

    def drop_websockets(self) -> None:
        """Close every websocket now (clients must reconnect and reconcile)."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._close_sockets(), self._loop).result(10)

    async def _astart(self) -> None:
        self._reset_state()
        self._wake = asyncio.Event()
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.add_routes(self._routes())
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _astop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
        await self._close_sockets()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._reset_state()

    async def _close_sockets(self) -> None:
        for ws in list(self._sockets.values()):
            with contextlib.suppress(Exception):
                await ws.close()
        self._sockets.clear()

    # ------------------------------------------------------------------ helpers
    def _chance(self, count_attr: str, p_attr: str | None = None) -> bool:
        n = getattr(self.faults, count_attr)
        if n > 0:
            setattr(self.faults, count_attr, n - 1)
            return True
        if p_attr is not None:
            p = float(getattr(self.faults, p_attr))
            return p > 0 and self._rng.random() < p
        return False

    async def _slow(self) -> None:
        delay = self.faults.slow_s
        if not delay and self.faults.p_slow and self._rng.random() < self.faults.p_slow:
            delay = 0.05 + self._rng.random() * 0.2
        if delay:
            self.stats.fault("slow_response")
            await asyncio.sleep(delay)

    async def _send(self, event: str, data: dict[str, Any], sid: str | None) -> None:
        targets = list(self._sockets.items()) if sid is None else [(sid, self._sockets.get(sid))]
        for _sid, ws in targets:
            if ws is None or ws.closed or id(ws) in self._silent:
                continue
            with contextlib.suppress(Exception):
                await ws.send_str(json.dumps({"type": event, "data": data}))

    async def _broadcast_status(self) -> None:
        """ComfyUI's ``queue_updated``: a ``status`` event to every client (no ``sid``)."""
        await self._send("status", {"status": self._queue_info()}, None)

    def _queue_info(self) -> dict[str, Any]:
        remaining = len(self._queue) + (1 if self._running else 0)
        return {"exec_info": {"queue_remaining": remaining}}

    # ------------------------------------------------------------------ routes
    def _routes(self) -> web.RouteTableDef:
        r = web.RouteTableDef()

        @r.get("/ws")
        async def ws_handler(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            sid = request.rel_url.query.get("clientId", "") or uuid.uuid4().hex
            self._sockets[sid] = ws
            self.stats.ws_connections += 1
            try:
                await self._send("status", {"status": self._queue_info(), "sid": sid}, sid)
                if self._silent_prompt is not None:
                    self._silent.add(id(ws))
                async for msg in ws:
                    if msg.type == WSMsgType.ERROR:
                        break
            finally:
                if self._sockets.get(sid) is ws:
                    self._sockets.pop(sid, None)
                self._silent.discard(id(ws))
            return ws

        @r.get("/system_stats")
        async def system_stats(request: web.Request) -> web.Response:
            await self._slow()
            return web.json_response(
                {
                    "system": {
                        "os": os.name,
                        "ram_total": 64 << 30,
                        "ram_free": 32 << 30,
                        "comfyui_version": FAKE_VERSION,
                        "required_frontend_version": "1.27.10",
                        "installed_templates_version": "0.1.95",
                        "required_templates_version": "0.1.95",
                        "python_version": sys.version,
                        "pytorch_version": "fake",
                        "embedded_python": False,
                        "argv": ["main.py", "--listen", "127.0.0.1", "--port", str(self.port)],
                    },
                    "devices": [
                        {
                            "name": self.device_name,
                            "type": "cuda",
                            "index": 0,
                            "vram_total": 24 << 30,
                            "vram_free": 20 << 30,
                            "torch_vram_total": 0,
                            "torch_vram_free": 0,
                        }
                    ],
                }
            )

        @r.get("/object_info")
        async def object_info(request: web.Request) -> web.Response:
            return web.json_response(node_schemas())

        @r.get("/object_info/{node_class}")
        async def object_info_node(request: web.Request) -> web.Response:
            cls = request.match_info["node_class"]
            schemas = node_schemas()
            return web.json_response({cls: schemas[cls]} if cls in schemas else {})

        @r.get("/prompt")
        async def get_prompt(request: web.Request) -> web.Response:
            return web.json_response(self._queue_info())

        @r.post("/prompt")
        async def post_prompt(request: web.Request) -> web.Response:
            await self._slow()
            hang = self._chance("hang_prompt")
            if hang:
                self.stats.fault("hang_prompt")
                await asyncio.sleep(self.faults.hang_s)
            if self._chance("submit_500", "p_submit_500"):
                self.stats.fault("http_500")
                return web.Response(status=500, text="500 Internal Server Error")
            body = await request.json()
            number: float | int  # ComfyUI: float when the client gives one, else its int counter
            if "number" in body:
                number = float(body["number"])
            else:
                number = self._number
                self._number += 1
            if "prompt" not in body:
                err = {
                    "type": "no_prompt",
                    "message": "No prompt provided",
                    "details": "No prompt provided",
                    "extra_info": {},
                }
                return web.json_response({"error": err, "node_errors": {}}, status=400)
            prompt = body["prompt"]
            prompt_id = str(body.get("prompt_id", uuid.uuid4()))
            ok, error, outputs, node_errors = self._validate(prompt)
            if not ok:
                return web.json_response({"error": error, "node_errors": node_errors}, status=400)
            extra = dict(body.get("extra_data") or {})
            if "client_id" in body:
                extra["client_id"] = body["client_id"]
            self._queue.append(_Run(number, prompt_id, prompt, extra, outputs))
            self._queue.sort(key=lambda x: x.number)
            self.stats.submitted += 1
            assert self._wake is not None
            self._wake.set()
            await self._broadcast_status()  # PromptQueue.put -> queue_updated
            # like ComfyUI: outputs that failed validation are dropped, their errors reported
            answer = {"prompt_id": prompt_id, "number": number, "node_errors": node_errors}
            return web.json_response(answer)

        @r.get("/queue")
        async def get_queue(request: web.Request) -> web.Response:
            await self._slow()
            running = [self._running.item()] if self._running else []
            return web.json_response(
                {"queue_running": running, "queue_pending": [q.item() for q in self._queue]}
            )

        @r.post("/queue")
        async def post_queue(request: web.Request) -> web.Response:
            body = await request.json()
            if body.get("clear"):
                self._queue.clear()
            for pid in body.get("delete", []):
                self._queue = [q for q in self._queue if q.prompt_id != pid]
            return web.Response(status=200)

        @r.post("/interrupt")
        async def post_interrupt(request: web.Request) -> web.Response:
            try:
                body = await request.json()
            except ValueError:
                body = {}
            pid = body.get("prompt_id") if isinstance(body, dict) else None
            if self._running and (not pid or pid == self._running.prompt_id):
                self._interrupt = True
            return web.Response(status=200)

        @r.get("/history")
        async def get_history_all(request: web.Request) -> web.Response:
            return web.json_response(self._history)

        @r.get("/history/{prompt_id}")
        async def get_history(request: web.Request) -> web.Response:
            await self._slow()
            pid = request.match_info["prompt_id"]
            return web.json_response({pid: self._history[pid]} if pid in self._history else {})

        @r.post("/history")
        async def post_history(request: web.Request) -> web.Response:
            body = await request.json()
            if body.get("clear"):
                self._history.clear()
            for pid in body.get("delete", []):
                self._history.pop(pid, None)
            return web.Response(status=200)

        @r.post("/upload/image")
        async def upload_image(request: web.Request) -> web.Response:
            post = await request.post()
            image = post.get("image")
            if not isinstance(image, web.FileField) or not image.filename:
                return web.Response(status=400)
            if (post.get("type") or "input") != "input":
                return web.Response(status=400)
            subfolder = str(post.get("subfolder", ""))
            folder = (self.input_dir / os.path.normpath(subfolder)).resolve()
            if not folder.is_relative_to(self.input_dir.resolve()):
                return web.Response(status=400)
            data = image.file.read()
            name = image.filename
            stem, ext = os.path.splitext(name)
            i = 1
            overwrite = post.get("overwrite") in ("true", "1")
            while not overwrite and (folder / name).exists():
                if (folder / name).read_bytes() == data:
                    break  # duplicate: ComfyUI keeps the existing file and name
                name = f"{stem} ({i}){ext}"
                i += 1
            else:
                atomic_write_bytes(folder / name, data)
            return web.json_response({"name": name, "subfolder": subfolder, "type": "input"})

        @r.get("/view")
        async def view(request: web.Request) -> web.StreamResponse:
            await self._slow()
            q = request.rel_url.query
            filename = q.get("filename", "")
            if not filename or filename.startswith("/") or ".." in filename:
                return web.Response(status=400)
            base = {"output": self.output_dir, "input": self.input_dir, "temp": self.temp_dir}.get(
                q.get("type", "output")
            )
            if base is None:
                return web.Response(status=400)
            folder = (base / q.get("subfolder", "")).resolve()
            if not folder.is_relative_to(base.resolve()):
                return web.Response(status=403)
            path = folder / os.path.basename(filename)
            if not path.is_file():
                return web.Response(status=404)
            return web.FileResponse(path)

        # ---- test-only control routes (not part of ComfyUI)
        @r.post("/fake/faults")
        async def set_faults(request: web.Request) -> web.Response:
            self.set_faults(**(await request.json()))
            return web.json_response(dataclasses.asdict(self.faults))

        @r.get("/fake/stats")
        async def get_stats(request: web.Request) -> web.Response:
            return web.json_response(dataclasses.asdict(self.stats))

        @r.post("/fake/drop_ws")
        async def drop_ws(request: web.Request) -> web.Response:
            await self._close_sockets()
            return web.Response(status=200)

        return r

    # ------------------------------------------------------------------ validation
    def _validate(self, prompt: Any) -> tuple[bool, dict[str, Any], list[str], dict[str, Any]]:
        """ComfyUI 0.3.64's ``validate_prompt`` (execution.py) against the committed
        ``/object_info`` snapshot: the same checks, error types and 400 body, plus one
        the real server lacks (see ``_validate_node``)."""

        def top(kind: str, message: str, details: str = "") -> dict[str, Any]:
            return {"type": kind, "message": message, "details": details, "extra_info": {}}

        if not isinstance(prompt, dict):
            return False, top("invalid_prompt", "Prompt is not a dict"), [], {}
        schemas = node_schemas()
        outputs: list[str] = []
        for node_id, node in prompt.items():
            cls = node.get("class_type") if isinstance(node, dict) else None
            if cls is None:
                return (
                    False,
                    top(
                        "invalid_prompt",
                        "Cannot execute because a node is missing the class_type property.",
                        f"Node ID '#{node_id}'",
                    ),
                    [],
                    {},
                )
            if cls not in schemas:
                return (
                    False,
                    top(
                        "invalid_prompt",
                        f"Cannot execute because node {cls} does not exist.",
                        f"Node ID '#{node_id}'",
                    ),
                    [],
                    {},
                )
            if schemas[cls]["output_node"]:
                outputs.append(str(node_id))
        if not outputs:
            return False, top("prompt_no_outputs", "Prompt has no outputs"), [], {}
        validated: dict[str, tuple[bool, list[dict[str, Any]]]] = {}
        good: list[str] = []
        failed: list[tuple[str, list[dict[str, Any]]]] = []
        node_errors: dict[str, Any] = {}
        for o in outputs:
            try:
                ok, reasons = self._validate_node(prompt, o, validated)
            except Exception as ex:
                ok, reasons = False, [_exception_reason("exception_during_validation", ex)]
                validated[o] = (False, reasons)
            if ok:
                good.append(o)
                continue
            failed.append((o, reasons))
            for nid, (valid, found) in validated.items():
                # like ComfyUI: nodes downstream of an error fail without reasons of their own
                if not valid and found:
                    entry = node_errors.setdefault(
                        nid,
                        {
                            "errors": found,
                            "dependent_outputs": [],
                            "class_type": prompt[nid]["class_type"],
                        },
                    )
                    entry["dependent_outputs"].append(o)
        if not good:
            details = "\n".join(f"{e['message']}: {e['details']}" for _, rs in failed for e in rs)
            error = top(
                "prompt_outputs_failed_validation", "Prompt outputs failed validation", details
            )
            return False, error, [], node_errors
        return True, {}, good, node_errors

    def _validate_node(
        self,
        prompt: dict[str, Any],
        node_id: str,
        validated: dict[str, tuple[bool, list[dict[str, Any]]]],
    ) -> tuple[bool, list[dict[str, Any]]]:
        """ComfyUI's ``validate_inputs`` for one node and, through its links, its inputs.

        One check is stricter than ComfyUI 0.3.64: an input name the node does not
        declare is refused (``undeclared_input``). The real server ignores such a literal
        and passes such a link to the node function, which fails at execution; refusing
        it at ``/prompt`` keeps a graph written against inputs the real nodes lack from
        passing any test. A link to a missing node or an output slot the producer lacks
        raises, as in ComfyUI (``exception_during_validation``).
        """
        if node_id in validated:
            return validated[node_id]
        node = prompt[node_id]
        inputs: dict[str, Any] = node["inputs"]
        schemas = node_schemas()
        decl = schemas[node["class_type"]]["input"]
        required = decl.get("required") or {}
        declared = {**required, **(decl.get("optional") or {})}
        fn, fn_args, fn_kwargs = custom_validation(node["class_type"])
        errors: list[dict[str, Any]] = []
        valid = True

        def error(kind: str, message: str, details: str, **extra: Any) -> None:
            errors.append(
                {"type": kind, "message": message, "details": details, "extra_info": extra}
            )

        for name, value in inputs.items():
            if name not in declared:
                error(
                    "undeclared_input",
                    f"Input is not declared by {node['class_type']}",
                    name,
                    input_name=name,
                    received_value=value,
                )
        for x, spec in declared.items():
            input_type = spec[0]
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            info = [input_type, opts]
            if x not in inputs:
                if x in required:
                    error("required_input_missing", "Required input is missing", x, input_name=x)
                continue
            val = inputs[x]
            if isinstance(val, list):
                if len(val) != 2:
                    error(
                        "bad_linked_input",
                        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                        x,
                        input_name=x,
                        input_config=info,
                        received_value=val,
                    )
                    continue
                o_id = val[0]
                received = tuple(schemas[prompt[o_id]["class_type"]]["output"])[val[1]]
                if not _types_match(received, input_type):
                    error(
                        "return_type_mismatch",
                        "Return type mismatch between linked nodes",
                        f"{x}, received_type({received}) mismatch input_type({input_type})",
                        input_name=x,
                        input_config=info,
                        received_type=received,
                        linked_node=val,
                    )
                    continue
                try:
                    if not self._validate_node(prompt, o_id, validated)[0]:
                        valid = False
                except Exception as ex:
                    valid = False
                    reason = _exception_reason("exception_during_inner_validation", ex)
                    reason["message"] = "Exception when validating inner node"
                    reason["extra_info"].update(input_name=x, input_config=info, linked_node=val)
                    validated[o_id] = (False, [reason])
                continue
            if isinstance(val, dict) and "__value__" in val:
                val = inputs[x] = val["__value__"]
            cast = _CASTS.get(input_type) if isinstance(input_type, str) else None
            if cast is not None:
                try:
                    val = inputs[x] = cast(val)
                except Exception as ex:
                    error(
                        "invalid_input_type",
                        f"Failed to convert an input value to a {input_type} value",
                        f"{x}, {val}, {ex}",
                        input_name=x,
                        input_config=info,
                        received_value=val,
                        exception_message=str(ex),
                    )
                    continue
            if x in fn_args or fn_kwargs:
                continue  # the node's VALIDATE_INPUTS takes over this input's checks
            if "min" in opts and val < opts["min"]:
                error(
                    "value_smaller_than_min",
                    f"Value {val} smaller than min of {opts['min']}",
                    x,
                    input_name=x,
                    input_config=info,
                    received_value=val,
                )
            elif "max" in opts and val > opts["max"]:
                error(
                    "value_bigger_than_max",
                    f"Value {val} bigger than max of {opts['max']}",
                    x,
                    input_name=x,
                    input_config=info,
                    received_value=val,
                )
            elif isinstance(input_type, list) and val not in input_type:
                error(
                    "value_not_in_list",
                    "Value not in list",
                    f"{x}: '{val}' not in {input_type}",
                    input_name=x,
                    input_config=info,
                    received_value=val,
                )
        if fn is not None:
            # like ComfyUI: the node's own check, linked inputs as None (not computed yet)
            kwargs = {
                x: None if isinstance(v, list) else v
                for x, v in inputs.items()
                if x in declared and (fn_kwargs or x in fn_args)
            }
            r = fn(**kwargs)
            if r is not True:
                for x in kwargs:
                    details = x if r is False else f"{x} - {r}"
                    error(
                        "custom_validation_failed",
                        "Custom validation failed for node",
                        details,
                        input_name=x,
                    )
        result = (not errors and valid, errors)
        validated[node_id] = result
        return result

    # ------------------------------------------------------------------ execution
    async def _work(self) -> None:
        assert self._wake is not None
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            run = self._queue.pop(0)
            self._running = run
            self._interrupt = False
            await self._broadcast_status()  # PromptQueue.get -> queue_updated
            try:
                await self._execute(run)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in the fake must not kill the worker
                log.exception("fake execution crashed")
            finally:
                self._running = None
            # like ComfyUI's prompt worker: task_done (a status broadcast), then
            # ``executing`` with ``node: None`` to the prompt's client
            await self._broadcast_status()
            await self._send(
                "executing",
                {"node": None, "prompt_id": run.prompt_id},
                run.extra_data.get("client_id"),
            )
            if self._silent_prompt == run.prompt_id:
                self._silent_prompt = None

    async def _execute(self, run: _Run) -> None:
        pid, sid = run.prompt_id, run.extra_data.get("client_id")
        messages: list[list[Any]] = []

        async def message(event: str, data: dict[str, Any], broadcast: bool = False) -> None:
            data = {**data, "timestamp": int(time.time() * 1000)}
            messages.append([event, data])
            await self._send(event, data, None if broadcast else sid)

        def finish(ok: bool, outputs: dict[str, Any]) -> None:
            self._history[pid] = {
                "prompt": run.item(),
                "outputs": outputs,
                "status": {
                    "status_str": "success" if ok else "error",
                    "completed": ok,
                    "messages": messages,
                },
                "meta": {
                    n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n}
                    for n in outputs
                },
            }
            while len(self._history) > 10000:
                self._history.pop(next(iter(self._history)))

        await message("execution_start", {"prompt_id": pid})
        await message("execution_cached", {"nodes": [], "prompt_id": pid})
        if self._chance("ws_drop", "p_ws_drop"):
            self.stats.fault("ws_drop")
            await self._close_sockets()
        if self._chance("ws_silent", "p_ws_silent"):
            self.stats.fault("ws_silent")
            self._silent |= {id(ws) for ws in self._sockets.values()}
            self._silent_prompt = pid
        oom = self._chance("oom", "p_oom")
        outputs: dict[str, Any] = {}
        order = execution_order(run.prompt, run.outputs)
        values: dict[str, tuple[Any, ...]] = {}
        states: dict[str, dict[str, Any]] = {}

        async def node_state(node_id: str, value: float, max_: float, state: str) -> None:
            """ComfyUI's ``progress_state``: every node of the prompt seen so far."""
            states[node_id] = {
                "value": value,
                "max": max_,
                "state": state,
                "node_id": node_id,
                "prompt_id": pid,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            await self._send("progress_state", {"prompt_id": pid, "nodes": {**states}}, sid)

        async def progress(node_id: str, steps: int, delay_s: float = 0.0) -> None:
            for k in range(steps):
                if delay_s:  # like ComfyUI's sampler steps: an interrupt is seen within a tick
                    end = asyncio.get_running_loop().time() + delay_s / steps
                    while not self._interrupt:
                        left = end - asyncio.get_running_loop().time()
                        if left <= 0:
                            break
                        await asyncio.sleep(min(left, 0.05))
                await node_state(node_id, k + 1, steps, "running")
                await self._send(
                    "progress",
                    {"value": k + 1, "max": steps, "prompt_id": pid, "node": node_id},
                    sid,
                )

        for i, node_id in enumerate(order):
            cls = run.prompt[node_id]["class_type"]
            await node_state(node_id, 0.0, 1.0, "running")
            await self._send(
                "executing", {"node": node_id, "display_node": node_id, "prompt_id": pid}, sid
            )
            if self._interrupt:
                await message(
                    "execution_interrupted",
                    {"prompt_id": pid, "node_id": node_id, "node_type": cls, "executed": order[:i]},
                    broadcast=True,
                )
                finish(False, outputs)
                return
            err: tuple[str, str] | None = None
            if oom and cls not in ("ManifestLoader", "NVENCEncode"):
                oom = False
                self.stats.fault("oom")
                err = (
                    "torch.OutOfMemoryError",
                    "Allocation on device 0 would exceed allowed memory. (out of memory)",
                )
            else:
                runner = getattr(self, f"_node_{cls}")
                try:
                    kwargs = resolve_inputs(run.prompt, node_id, values)
                    if cls == "NVENCEncode":
                        await progress(node_id, 4, self.exec_s)
                    elif cls in PROGRESS_NODES:
                        await progress(node_id, 1)
                    if cls in THREADED_NODES:
                        named, ui = await asyncio.to_thread(runner, **kwargs)
                    else:
                        named, ui = runner(**kwargs)
                    values[node_id] = tuple(named[n] for n in node_schemas()[cls]["output_name"])
                except Exception as e:  # ComfyUI reports any node exception as execution_error
                    log.debug("fake node %s (%s) failed", node_id, cls, exc_info=True)
                    err = (_type_name(type(e)), str(e))
                else:
                    if ui is not None:
                        outputs[node_id] = ui
                        await self._send(
                            "executed",
                            {
                                "node": node_id,
                                "display_node": node_id,
                                "output": ui,
                                "prompt_id": pid,
                            },
                            sid,
                        )
            if err is not None:
                await message(
                    "execution_error",
                    {
                        "prompt_id": pid,
                        "node_id": node_id,
                        "node_type": cls,
                        "executed": order[:i],
                        "exception_message": err[1],
                        "exception_type": err[0],
                        "traceback": [f'  File "fake_comfyui.py", in {cls}\n'],
                        "current_inputs": {},
                        "current_outputs": order[:i],
                    },
                )
                finish(False, outputs)
                return
            await node_state(node_id, states[node_id]["max"], states[node_id]["max"], "finished")
        await message("execution_success", {"prompt_id": pid})
        finish(True, outputs)
        self.stats.executed += 1

    # ------------------------------------------------------------------ the pack's nodes
    # Each takes the node's resolved inputs and returns (outputs by name, ui or None).
    # IMAGE values are ``Frames``: their shape, plus how to make the pixels when the
    # clip must show the real picture (``render="camera"``).

    def _node_ManifestLoader(
        self, manifest: str, manifest_json: str = "", workflow: str = ""
    ) -> tuple[dict[str, Any], None]:
        from comfy_vidgen.manifest import FieldError, ManifestError, manifest_hash, parse_manifest
        from comfy_vidgen.manifest_loading import LoadedManifest, load_for_node

        if self._chance("manifest_error"):
            self.stats.fault("manifest_error")
            raise ManifestError([FieldError("keyframe.sha256", "file hash does not match")])
        if self.zero_work and manifest_json.strip():  # no keyframe hashing: dispatch cost only
            m = parse_manifest(manifest_json, source="manifest_json")
            loaded = LoadedManifest(m, manifest_hash(m), self.input_dir / m.keyframe.path)
        else:
            loaded = load_for_node(
                self.input_dir, manifest, manifest_json, workflow=workflow, decode=False
            )

        def pixels() -> Any:
            from comfy_vidgen.images import load_rgb_array

            return load_rgb_array(loaded.keyframe_path)[None]

        kf = loaded.manifest.keyframe
        return loader_outputs(loaded, Frames(1, kf.width, kf.height, pixels)), None

    def _node_CameraPathConditioner(
        self,
        image: Frames,
        width: int,
        height: int,
        length: int,
        motion_type: str,
        easing: str,
        start_x: float,
        start_y: float,
        start_w: float,
        start_h: float,
        end_x: float,
        end_y: float,
        end_w: float,
        end_h: float,
        manifest: Any = None,
        camera: Any = None,
    ) -> tuple[dict[str, Any], None]:
        from comfy_vidgen.camera import CameraPath
        from comfy_vidgen.camera.conditioning import motion_bucket_id, prompt_phrase

        size = (image.width, image.height)
        if camera is not None:
            path = CameraPath(camera, size)
        elif manifest is not None:
            path = CameraPath(manifest.camera, size)
        else:
            start, end = (start_x, start_y, start_w, start_h), (end_x, end_y, end_w, end_h)
            path = CameraPath.from_values(motion_type, start, end, easing, size)
        crop = Frames(1, width, height)
        out = {
            "start_image": crop,
            "end_image": crop,
            "camera_path": path,
            "motion_bucket_id": Deferred(lambda: motion_bucket_id(path, (width, height))),
            "camera_embedding": None,  # the real node computes it only for a consumer
            "prompt_phrase": Deferred(lambda: prompt_phrase(path, (width, height))),
        }
        return out, None

    def _node_VirtualCamera(
        self, images: Frames, camera_path: Any, width: int, height: int, frames: int
    ) -> tuple[dict[str, Any], None]:
        n = frames if images.count == 1 else images.count  # a batch: one output per frame
        source = images.pixels

        def pixels() -> Any:
            import numpy as np

            from comfy_vidgen.camera import render_frames, render_path

            if source is None:
                raise ValueError("the fake has no pixels for VirtualCamera's images input")
            src = source()
            if images.count == 1:
                return np.stack(list(render_path(src[0], camera_path, n, (width, height))))
            return np.stack(list(render_frames(iter(src), camera_path, (width, height), n)))

        return {"frames": Frames(n, width, height, pixels)}, None

    def _node_RIFEInterpolate(
        self,
        frames: Frames,
        target_frames: int,
        model: str,
        dtype: str,
        batch_size: int,
        scene_cut_guard: bool,
    ) -> tuple[dict[str, Any], None]:
        def pixels() -> Any:
            """The exact retime schedule, with a cross-fade standing in for the network."""
            import numpy as np

            from comfy_vidgen.interpolate.retime import schedule

            if frames.pixels is None:
                raise ValueError("the fake has no pixels for RIFEInterpolate's frames input")
            a = frames.pixels().astype(np.float32)
            out = [
                a[s.pair] if s.t == 0 else (1 - s.t) * a[s.pair] + s.t * a[s.pair + 1]
                for s in schedule(frames.count, target_frames)
            ]
            return np.stack(out).round().astype(np.uint8)

        return {"frames": Frames(target_frames, frames.width, frames.height, pixels)}, None

    def _node_NVENCEncode(
        self,
        images: Frames,
        fps: int,
        quality: int,
        bit_depth: str,
        encoder: str,
        filename_prefix: str,
        job_id: str,
        manifest: Any = None,
        audio: Any = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        from comfy_vidgen.encode.delivery import job_name, output_subfolder
        from comfy_vidgen.encode.errors import EncoderUnavailable

        # a rack whose FFmpeg lacks NVENC: the real node's choice and messages
        if encoder == "hevc_nvenc":
            raise EncoderUnavailable(
                f"encoder hevc_nvenc was requested but cannot open a session on this machine: "
                f"{NO_NVENC}. Use --encoder auto (falls back to libx265) or --encoder libx265."
            )
        reason = (
            "requested explicitly"
            if encoder == "libx265"
            else f"auto: hevc_nvenc unavailable ({NO_NVENC}); fell back to libx265"
        )
        name = job_name(job_id, filename_prefix)
        frames = images.count
        if self._chance("wrong_frames"):
            self.stats.fault("wrong_frames")
            frames -= 1
        subfolder = output_subfolder(manifest.id if manifest is not None else None)
        folder = self.output_dir / subfolder
        if self.zero_work:
            data = f"zero-work {name}\n".encode()
        elif self.render == "camera":
            data = self._camera_video(images, frames, fps, quality, int(bit_depth))
        else:
            data = make_test_video(images.width, images.height, frames, fps)
        sha = hashlib.sha256(data).hexdigest()
        missing = self._chance("missing_output", "p_missing_output")
        if not missing and self._chance("bad_hash", "p_bad_hash"):
            self.stats.fault("bad_hash")
            sha = hashlib.sha256(sha.encode()).hexdigest()
        sidecar = {
            "job_id": job_id or None,
            "manifest_id": manifest.id if manifest is not None else None,
            "sha256": sha,
            "encoder": "libx265",
            "encoder_reason": reason,
            "frames": frames,
            "fps": fps,
            "width": images.width,
            "height": images.height,
            "quality": quality,
            "bit_depth": int(bit_depth),
        }
        if missing:
            self.stats.fault("missing_output")
        else:
            atomic_write_bytes(folder / f"{name}.mp4", data)
            atomic_write_bytes(folder / f"{name}.json", json.dumps(sidecar).encode())
            done = self.stats.completed_job_ids
            done[name] = done.get(name, 0) + 1
        # NVENCEncode's ui: the H.264 preview ComfyUI's frontend shows (temp folder, made
        # from the delivered clip; none when the "clip" is zero-work text, as the node shows
        # none when it cannot make one), plus our report
        item = {"filename": f"{name}.mp4", "subfolder": subfolder, "type": "output"}
        shown = [] if self.zero_work or missing else [self._preview(name, data)]
        ui: dict[str, Any] = {
            "images": shown,
            "animated": [True] * len(shown),
            "vidgen_outputs": [
                {
                    **item,
                    "sha256": sha,
                    "sidecar": f"{name}.json",
                    "encoder": "libx265",
                    "frames": frames,
                }
            ],
        }
        return {"path": str(folder / f"{name}.mp4"), "sha256": sha}, ui

    def _preview(self, name: str, data: bytes) -> dict[str, str]:
        """The real preview of the delivered bytes (cached per clip: the gradient repeats)."""
        from comfy_vidgen.encode.preview import (
            PREVIEW_SUBFOLDER,
            preview_name,
            preview_of_video,
        )

        key = hashlib.sha256(data).hexdigest()
        with _VIDEO_LOCK:
            cached = _PREVIEW_CACHE.get(key)
        if cached is None:
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                src = Path(tmp, "clip.mp4")
                src.write_bytes(data)
                cached = Path(preview_of_video(src, Path(tmp, "preview.mp4")).path).read_bytes()
            with _VIDEO_LOCK:
                _PREVIEW_CACHE[key] = cached
        filename = preview_name(f"{name}.mp4")
        atomic_write_bytes(self.temp_dir / PREVIEW_SUBFOLDER / filename, cached)
        return {"filename": filename, "subfolder": PREVIEW_SUBFOLDER, "type": "temp"}

    def _camera_video(
        self, images: Frames, frames: int, fps: int, quality: int, bit_depth: int
    ) -> bytes:
        """The graph's frames (camera path over the keyframe, retimed) as a real clip."""
        import tempfile

        import torch

        from comfy_vidgen.encode.delivery import deliver

        if images.pixels is None:
            raise ValueError("the fake has no pixels for NVENCEncode's images input")
        arr = images.pixels()[:frames]
        with tempfile.TemporaryDirectory() as tmp:
            d = deliver(
                torch.from_numpy(arr).float().div_(255.0),
                tmp,
                fps=fps,
                quality=quality,
                bit_depth=bit_depth,
                encoder="libx265",
                job_id="fake",
            )
            return Path(d.result.path).read_bytes()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="fake ComfyUI for tests and benchmarks")
    p.add_argument("--root", type=Path, required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--exec-s", type=float, default=0.0)
    p.add_argument("--zero-work", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--faults", default="{}", help="JSON object of Faults fields")
    a = p.parse_args(argv)
    fake = FakeComfyUI(
        a.root,
        port=a.port,
        exec_s=a.exec_s,
        zero_work=a.zero_work,
        seed=a.seed,
        faults=Faults(**json.loads(a.faults)),
    ).start()
    sys.stdout.write(f"READY {fake.url}\n")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
