"""A fake ComfyUI for tests: real HTTP + websocket on loopback, ComfyUI v0.3.64 shapes.

It speaks the routes the orchestrator uses (``/prompt``, ``/ws``, ``/history``,
``/queue``, ``/interrupt``, ``/upload/image``, ``/view``, ``/system_stats``,
``/object_info``) with the same JSON bodies and event order as the pinned
ComfyUI, and "executes" a vidgen graph (ManifestLoader -> ... -> NVENCEncode) by
validating the inline manifest against the uploaded keyframe and writing a
real small H.265 mp4 plus its sidecar where NVENCEncode would.

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
import io
import json
import logging
import os
import random
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from comfy_vidgen.fsutil import atomic_write_bytes

log = logging.getLogger(__name__)

FAKE_VERSION = "0.3.64"
INLINE = "(inline manifest_json)"

#: the pack's nodes the fake "executes": their ``/object_info`` entries (inputs, outputs,
#: combos) are the committed snapshot of the pinned ComfyUI + pack, as the real one serves
PACK_NODES = (
    "ManifestLoader",
    "CameraPathConditioner",
    "VirtualCamera",
    "RIFEInterpolate",
    "NVENCEncode",
)

#: the compact graph of ``orchestrator.testing.build_test_graph`` names some inputs
#: differently from the pack; the fake accepts a node that matches either signature
TEST_GRAPH_INPUTS: dict[str, dict[str, Any]] = {
    "VirtualCamera": {"required": {"image": ["IMAGE"], "manifest": ["VIDGEN_MANIFEST"]}},
    "RIFEInterpolate": {"required": {"frames": ["IMAGE"], "target_frames": ["INT", {"min": 2}]}},
    "NVENCEncode": {
        "required": {"frames": ["IMAGE"], "fps": ["INT", {"min": 1}], "job_id": ["STRING"]},
        "optional": {"manifest": ["VIDGEN_MANIFEST"]},
    },
}

#: nodes that report ``progress`` while they run (the real ones: per frame)
PROGRESS_NODES = frozenset({"VirtualCamera", "RIFEInterpolate", "NVENCEncode"})


@functools.cache
def node_schemas() -> dict[str, dict[str, Any]]:
    """``/object_info`` entries of ``PACK_NODES`` from the committed snapshot."""
    from comfy_vidgen.workflow_graph import load_object_info

    info = load_object_info()
    return {k: info[k] for k in PACK_NODES}


@dataclass
class Faults:
    """Counters of faults to inject: each injection decrements its counter.

    ``p_*`` are probabilities applied on top (random mode, seeded) for chaos runs.
    """

    submit_500: int = 0
    oom: int = 0
    ws_drop: int = 0
    wrong_frames: int = 0
    missing_output: int = 0
    bad_hash: int = 0
    manifest_error: int = 0
    slow_s: float = 0.0
    p_submit_500: float = 0.0
    p_oom: float = 0.0
    p_ws_drop: float = 0.0
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
            if ws is None or ws.closed:
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
            try:
                await self._send("status", {"status": self._queue_info(), "sid": sid}, sid)
                async for msg in ws:
                    if msg.type == WSMsgType.ERROR:
                        break
            finally:
                if self._sockets.get(sid) is ws:
                    self._sockets.pop(sid, None)
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
            return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": {}})

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
            base = {"output": self.output_dir, "input": self.input_dir}.get(q.get("type", "output"))
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
    @staticmethod
    def _input_errors(
        schema: dict[str, Any], inputs: dict[str, Any], prompt: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Missing required inputs, bad links and combo values not in the list."""
        errs: list[dict[str, Any]] = []
        for name, spec in (schema.get("required") or {}).items():
            if name not in inputs:
                errs.append(
                    {
                        "type": "required_input_missing",
                        "message": "Required input is missing",
                        "details": name,
                        "extra_info": {"input_name": name},
                    }
                )
                continue
            v = inputs[name]
            if isinstance(v, list):
                if len(v) != 2 or str(v[0]) not in prompt:
                    errs.append(
                        {
                            "type": "bad_linked_input",
                            "message": "Bad linked input, must be a length-2 list of [string, int]",
                            "details": f"{name}",
                            "extra_info": {"input_name": name, "received_value": v},
                        }
                    )
            elif isinstance(spec[0], list) and v not in spec[0]:
                errs.append(
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": f"{name}: '{v}' not in {spec[0]}",
                        "extra_info": {"input_name": name, "received_value": v},
                    }
                )
        return errs

    def _validate(self, prompt: Any) -> tuple[bool, dict[str, Any], list[str], dict[str, Any]]:
        """The subset of ComfyUI's ``validate_prompt`` the vidgen graphs exercise."""

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
        node_errors: dict[str, Any] = {}
        for node_id, node in prompt.items():
            cls = node["class_type"]
            inputs = node.get("inputs") or {}
            errs = self._input_errors(schemas[cls]["input"], inputs, prompt)
            alt = TEST_GRAPH_INPUTS.get(cls)
            if errs and alt is not None:
                alt_errs = self._input_errors(alt, inputs, prompt)
                errs = alt_errs if len(alt_errs) < len(errs) else errs
            if cls == "ManifestLoader" and inputs.get("manifest") == INLINE:
                if not str(inputs.get("manifest_json", "")).strip():
                    errs.append(
                        {
                            "type": "custom_validation_failed",
                            "message": "Custom validation failed for node",
                            "details": "manifest: choose a manifest file or fill manifest_json",
                            "extra_info": {"input_name": "manifest"},
                        }
                    )
            if errs:
                node_errors[str(node_id)] = {
                    "errors": errs,
                    "dependent_outputs": outputs,
                    "class_type": cls,
                }
        if node_errors:
            return (
                False,
                top("prompt_outputs_failed_validation", "Prompt outputs failed validation"),
                [],
                node_errors,
            )
        return True, {}, outputs, {}

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
        oom = self._chance("oom", "p_oom")
        outputs: dict[str, Any] = {}
        loader = next(
            (k for k, v in run.prompt.items() if v["class_type"] == "ManifestLoader"), None
        )
        manifest: Any = None
        order = list(run.prompt)
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
                if delay_s:
                    await asyncio.sleep(delay_s / steps)
                await node_state(node_id, k + 1, steps, "running")
                await self._send(
                    "progress",
                    {"value": k + 1, "max": steps, "prompt_id": pid, "node": node_id},
                    sid,
                )

        for i, node_id in enumerate(order):
            node = run.prompt[node_id]
            cls = node["class_type"]
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
            if cls == "ManifestLoader":
                manifest, err = await asyncio.to_thread(self._load_manifest, node["inputs"])
            elif oom and cls != "NVENCEncode":
                oom = False
                self.stats.fault("oom")
                err = (
                    "torch.OutOfMemoryError",
                    "Allocation on device 0 would exceed allowed memory. (out of memory)",
                )
            elif cls == "NVENCEncode":
                if manifest is None and loader is None:
                    err = ("ValueError", "NVENCEncode needs a manifest")
                else:
                    await progress(node_id, 4, self.exec_s)
                    ui, err = await asyncio.to_thread(self._encode, manifest, node["inputs"])
                    if err is None:
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
            elif cls in PROGRESS_NODES:
                await progress(node_id, 1)
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

    def _load_manifest(self, inputs: dict[str, Any]) -> tuple[Any, tuple[str, str] | None]:
        from comfy_vidgen.manifest import ManifestError, parse_manifest, verify_keyframe

        if self._chance("manifest_error"):
            self.stats.fault("manifest_error")
            return None, (
                "comfy_vidgen.manifest.ManifestError",
                "manifest_json: invalid manifest: keyframe.sha256: file hash does not match",
            )
        try:
            m = parse_manifest(str(inputs.get("manifest_json", "")), source="manifest_json")
            if not self.zero_work:
                verify_keyframe(m, self.input_dir)
        except ManifestError as e:
            return None, ("comfy_vidgen.manifest.ManifestError", str(e))
        return m, None

    def _camera_video(self, m: Any, frames: int) -> bytes:
        """What camera_only makes, without RIFE: the path rendered at the output frame count."""
        import tempfile

        import numpy as np
        import torch

        from comfy_vidgen.camera import CameraPath, render_path
        from comfy_vidgen.encode.delivery import deliver
        from comfy_vidgen.images import load_rgb_array
        from comfy_vidgen.manifest import verify_keyframe

        kf = load_rgb_array(verify_keyframe(m, self.input_dir))
        size = (m.output.width, m.output.height)
        arr = np.stack(list(render_path(kf, CameraPath.from_manifest(m), frames, size)))
        with tempfile.TemporaryDirectory() as tmp:
            d = deliver(
                torch.from_numpy(arr).float().div_(255.0),
                tmp,
                fps=m.output.fps,
                quality=m.output.quality,
                bit_depth=m.output.bit_depth,
                encoder="libx265",
                job_id="fake",
                manifest=m,
            )
            return Path(d.result.path).read_bytes()

    def _encode(
        self, m: Any, inputs: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[str, str] | None]:
        job_id = str(inputs.get("job_id", ""))
        if not job_id:
            return {}, ("ValueError", "job_id is empty")
        out = m.output
        frames = out.frames
        if self._chance("wrong_frames"):
            self.stats.fault("wrong_frames")
            frames -= 1
        subfolder = f"vidgen/{m.id}"
        folder = self.output_dir / subfolder
        if self.zero_work:
            data = f"zero-work {job_id}\n".encode()
        elif self.render == "camera":
            data = self._camera_video(m, frames)
        else:
            data = make_test_video(out.width, out.height, frames, out.fps)
        sha = hashlib.sha256(data).hexdigest()
        missing = self._chance("missing_output", "p_missing_output")
        if not missing and self._chance("bad_hash", "p_bad_hash"):
            self.stats.fault("bad_hash")
            sha = hashlib.sha256(sha.encode()).hexdigest()
        name = f"{job_id}.mp4"
        sidecar = {
            "job_id": job_id,
            "manifest_id": m.id,
            "sha256": sha,
            "encoder": "libx265",
            "frames": frames,
            "fps": out.fps,
            "width": out.width,
            "height": out.height,
        }
        if missing:
            self.stats.fault("missing_output")
        else:
            atomic_write_bytes(folder / name, data)
            atomic_write_bytes(folder / f"{job_id}.json", json.dumps(sidecar).encode())
            self.stats.completed_job_ids[job_id] = self.stats.completed_job_ids.get(job_id, 0) + 1
        # NVENCEncode's ui: the preview entry ComfyUI's frontend shows, plus our report
        ui: dict[str, Any] = {
            "images": [{"filename": name, "subfolder": subfolder, "type": "output"}],
            "animated": [True],
            "vidgen_outputs": [
                {
                    "filename": name,
                    "subfolder": subfolder,
                    "type": "output",
                    "sha256": sha,
                    "sidecar": f"{job_id}.json",
                    "encoder": "libx265",
                    "frames": frames,
                }
            ],
        }
        return ui, None


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
