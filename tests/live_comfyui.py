"""Start a real, headless ComfyUI with this pack for integration tests and snapshots.

``COMFYUI_DIR`` points at a ComfyUI checkout installed the way its README says
(its requirements in some environment); ``COMFYUI_PYTHON`` is that environment's
interpreter (default: ``$COMFYUI_DIR/.venv/bin/python``, else ``$COMFYUI_DIR/venv``,
else the current one). ComfyUI runs with ``--base-directory`` in a temp folder, so
its custom_nodes, models, input and output are private to the test, and it listens
on loopback only.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def comfyui_dir() -> Path | None:
    env = os.environ.get("COMFYUI_DIR")
    return Path(env) if env and (Path(env) / "main.py").is_file() else None


def comfyui_python(cdir: Path) -> str:
    env = os.environ.get("COMFYUI_PYTHON")
    if env:
        return env
    for cand in (cdir / ".venv" / "bin" / "python", cdir / "venv" / "bin" / "python"):
        if cand.is_file():
            return str(cand)
    return sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveComfyUI:
    url: str
    base: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def input_dir(self) -> Path:
        return self.base / "input"

    @property
    def output_dir(self) -> Path:
        return self.base / "output"


@contextlib.contextmanager
def running_comfyui(
    base: Path, timeout: float = 240.0, extra_args: tuple[str, ...] = ()
) -> Iterator[LiveComfyUI]:
    cdir = comfyui_dir()
    if cdir is None:
        raise RuntimeError("COMFYUI_DIR is not set to a ComfyUI checkout")
    (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / "comfy-vidgen"
    if not link.exists():
        link.symlink_to(ROOT, target_is_directory=True)
    for sub in ("input", "output", "models/rife"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = base / "comfyui.log"
    cmd = [
        comfyui_python(cdir),
        str(cdir / "main.py"),
        "--cpu",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--base-directory",
        str(base),
        "--disable-auto-launch",
        *extra_args,
    ]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=cdir, stdout=logf, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    live = LiveComfyUI(url, base, log, proc)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"ComfyUI exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
                )
            try:
                if requests.get(f"{url}/system_stats", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"ComfyUI did not start in {timeout} s:\n{log.read_text()[-4000:]}"
                )
            time.sleep(0.5)
        yield live
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
