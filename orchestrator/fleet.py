"""The rack: instances from a TOML file, their health, and their websocket listeners.

```toml
queue_depth = 2          # prompts kept queued per instance (short: balance + little stranded)
health_interval_s = 5
down_after = 2           # consecutive failed health checks before an instance is drained
drain_after_s = 60       # how long a down instance keeps its attempts before they move

[[instance]]
name = "gpu0"
url = "http://10.0.0.10:8188"
gpu = "RTX 4090"
token_env = "VIDGEN_GPU0_TOKEN"   # optional: bearer token for an authenticating proxy
roles = ["generate", "encode"]
```
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shlex
import subprocess
import threading
import time
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comfy_vidgen.errors import UsageError

from .client import ComfyClient, Event, TransportError

log = logging.getLogger(__name__)

#: the websocket events the dispatcher acts on; others (``status`` broadcasts,
#: per-node ``progress_state``, ``executed`` payloads, ``execution_cached``...)
#: are dropped before being parsed
DISPATCH_EVENTS = frozenset(
    {
        "execution_start",
        "executing",
        "progress",
        "execution_success",
        "execution_error",
        "execution_interrupted",
    }
)
#: at most this often per instance is a ``progress`` event passed on (display only)
PROGRESS_INTERVAL_S = 0.2
#: ``executing`` of a node, as ComfyUI's ``json.dumps`` writes it; only the
#: ``node: null`` one (the prompt finished) matters to the dispatcher
_EXECUTING_A_NODE = '"node": "'


def dispatch_filter(interval_s: float = PROGRESS_INTERVAL_S) -> Callable[[str, str], bool]:
    """A ``keep(type, raw)`` for one connection: drops ``executing`` of individual
    nodes and thins ``progress`` to one per ``interval_s`` (a prompt emits ~15 such
    events per job; each would cost a parse, a queue hand-off and a thread switch)."""
    # None, not 0.0: time.monotonic() counts from boot, so on a machine up for less
    # than interval_s a zero start would drop the first progress event
    last: float | None = None

    def keep(kind: str, raw: str) -> bool:
        nonlocal last
        if kind == "executing":
            return _EXECUTING_A_NODE not in raw  # unknown layout: kept and parsed
        if kind == "progress":
            now = time.monotonic()
            if last is not None and now - last < interval_s:
                return False
            last = now
        return True

    return keep


_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class InstanceConfig:
    name: str
    url: str
    gpu: str | None = None
    token_env: str | None = None
    roles: tuple[str, ...] = ("generate", "encode")
    #: how to restart this instance (e.g. ``docker compose restart comfyui-gpu0``): run
    #: when it goes unhealthy and after ``restart_after_jobs``; None: never restarted
    restart_command: str | None = None

    def token(self) -> str | None:
        if not self.token_env:
            return None
        value = os.environ.get(self.token_env)
        if not value:
            raise UsageError(
                f"instance {self.name}: environment variable {self.token_env} is unset"
            )
        return value


@dataclass(frozen=True)
class FleetConfig:
    instances: tuple[InstanceConfig, ...]
    queue_depth: int = 2
    health_interval_s: float = 5.0
    down_after: int = 2
    drain_after_s: float = 60.0
    poll_interval_s: float = 2.0
    timeout_s: float = 10.0
    #: reconnect a websocket that delivered nothing for this long while one of our
    #: prompts runs on its instance (ComfyUI's socket can go quiet after hours, #9393)
    ws_silence_s: float = 60.0
    #: a prompt running longer than this is interrupted and moved elsewhere, and its
    #: instance is marked unhealthy (None: no budget)
    job_budget_s: float | None = None
    #: run an instance's ``restart_command`` after this many delivered jobs (memory
    #: grows across runs until ComfyUI stops answering, #15884); None: never
    restart_after_jobs: int | None = None


def _check_url(url: str, where: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url):
        raise UsageError(f"{where}: url must look like http://HOST:PORT, got {url!r}")
    return url.rstrip("/")


def parse_fleet(data: dict[str, Any], source: str = "fleet") -> FleetConfig:
    raw = data.get("instance")
    if not isinstance(raw, list) or not raw:
        raise UsageError(f"{source}: needs at least one [[instance]] table")
    seen: set[str] = set()
    instances: list[InstanceConfig] = []
    allowed = {"name", "url", "gpu", "token_env", "roles", "restart_command"}
    for i, inst in enumerate(raw):
        where = f"{source}: instance[{i}]"
        if not isinstance(inst, dict):
            raise UsageError(f"{where}: must be a table")
        unknown = set(inst) - allowed
        if unknown:
            raise UsageError(
                f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})"
            )
        name = str(inst.get("name", f"gpu{i}"))
        if not _NAME.match(name) or name in seen:
            raise UsageError(f"{where}: name {name!r} must be unique, [A-Za-z0-9._-]{{1,64}}")
        seen.add(name)
        if "url" not in inst:
            raise UsageError(f"{where}: url is required")
        roles = inst.get("roles", ["generate", "encode"])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise UsageError(f"{where}: roles must be a list of strings")
        instances.append(
            InstanceConfig(
                name=name,
                url=_check_url(str(inst["url"]), where),
                gpu=inst.get("gpu"),
                token_env=inst.get("token_env"),
                roles=tuple(roles),
                restart_command=_restart_command(inst.get("restart_command"), where),
            )
        )

    def num(key: str, default: float, lo: float, hi: float) -> float:
        v = data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise UsageError(f"{source}: {key} must be a number in {lo}..{hi}, got {v!r}")
        return float(v)

    return FleetConfig(
        instances=tuple(instances),
        queue_depth=int(num("queue_depth", 2, 1, 64)),
        health_interval_s=num("health_interval_s", 5.0, 0.05, 3600),
        down_after=int(num("down_after", 2, 1, 100)),
        drain_after_s=num("drain_after_s", 60.0, 0.0, 86400),
        poll_interval_s=num("poll_interval_s", 2.0, 0.01, 600),
        timeout_s=num("timeout_s", 10.0, 0.1, 600),
        ws_silence_s=num("ws_silence_s", 60.0, 0.1, 86400),
        job_budget_s=num("job_budget_s", 0, 0.1, 86400) if "job_budget_s" in data else None,
        restart_after_jobs=int(num("restart_after_jobs", 0, 1, 10**9))
        if "restart_after_jobs" in data
        else None,
    )


def _restart_command(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{where}: restart_command must be a non-empty command line")
    try:
        shlex.split(value)
    except ValueError as e:
        raise UsageError(f"{where}: restart_command: {e}") from None
    return value


def load_fleet(path: str | os.PathLike[str]) -> FleetConfig:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"fleet file {p} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"fleet file {p}: invalid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"fleet file {p}: cannot read ({e})") from None
    return parse_fleet(data, str(p))


def fleet_from_urls(urls: list[str], **settings: Any) -> FleetConfig:
    """``--comfyui URL`` (repeatable): a fleet of those instances, named gpu0, gpu1, ..."""
    return parse_fleet(
        {"instance": [{"name": f"gpu{i}", "url": u} for i, u in enumerate(urls)], **settings},
        "--comfyui",
    )


@dataclass
class Instance:
    """Runtime state of one instance (owned by the dispatcher thread, except ``events``)."""

    config: FleetConfig
    cfg: InstanceConfig
    client: ComfyClient
    client_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    healthy: bool = False
    failures: int = 0
    down_since: float | None = None
    last_check: float = 0.0
    comfyui_version: str | None = None
    device: str | None = None
    #: keyframe sha256 -> uploaded input path, valid while the instance stays up
    uploaded: dict[str, str] = field(default_factory=dict)
    #: set by the dispatcher each pass: one of our prompts is queued or running here,
    #: so a silent websocket means a dead one (read by the listener thread)
    expecting_events: bool = False
    #: jobs delivered from this instance since it was last restarted
    delivered_since_restart: int = 0
    _restart: subprocess.Popen[bytes] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def gpu(self) -> str | None:
        return self.cfg.gpu or self.device

    def check_health(self, now: float) -> bool:
        """One ``/system_stats`` probe; returns True when the state changed."""
        self.last_check = now
        try:
            stats = self.client.system_stats()
        except TransportError as e:
            self.failures += 1
            if self.healthy and self.failures >= self.config.down_after:
                log.warning("instance %s is down: %s", self.name, e)
                self.healthy = False
                self.down_since = now
                self.uploaded.clear()  # it may come back as a fresh machine
                return True
            if not self.healthy and self.down_since is None:
                self.down_since = now
            return False
        self.failures = 0
        self.comfyui_version = (stats.get("system") or {}).get("comfyui_version")
        devices = stats.get("devices") or []
        if devices and isinstance(devices[0], dict):
            self.device = devices[0].get("name")
        if not self.healthy:
            log.info("instance %s is up (ComfyUI %s)", self.name, self.comfyui_version)
            self.healthy = True
            self.down_since = None
            return True
        return False

    def start_listener(self, sink: queue.Queue[tuple[str, Event]]) -> None:
        """Websocket reader thread: events go to ``sink``; ``_connected`` after every
        (re)connect tells the dispatcher to reconcile what it may have missed."""

        def loop() -> None:
            backoff = 0.05
            while not self._stop.is_set():
                opened = False

                def on_open() -> None:
                    nonlocal opened, backoff
                    opened, backoff = True, 0.05
                    sink.put((self.name, Event("_connected")))

                try:
                    for ev in self.client.events(
                        self.client_id,
                        stop=self._stop,
                        types=DISPATCH_EVENTS,
                        keep=dispatch_filter(),
                        on_open=on_open,
                        silent_after_s=self.config.ws_silence_s,
                        expecting=lambda: self.expecting_events,
                    ):
                        sink.put((self.name, ev))
                    if opened:
                        sink.put((self.name, Event("_disconnected")))
                except TransportError:
                    pass
                except Exception:  # never let the listener die silently
                    log.exception("websocket listener of %s failed", self.name)
                self._stop.wait(backoff)
                backoff = min(2.0, backoff * 2)

        self._thread = threading.Thread(target=loop, name=f"ws-{self.name}", daemon=True)
        self._thread.start()

    def restart(self, why: str) -> bool:
        """Run this instance's ``restart_command`` (not waited for); False if none is
        configured or the previous one still runs. The instance counts as down until a
        health probe answers again; its queue is gone, which reconciliation handles."""
        cmd = self.cfg.restart_command
        if cmd is None or (self._restart is not None and self._restart.poll() is None):
            return False
        log.warning("restarting instance %s (%s): %s", self.name, why, cmd)
        try:
            self._restart = subprocess.Popen(shlex.split(cmd), stdin=subprocess.DEVNULL)
        except OSError as e:
            log.error("restart command of %s failed to start: %s", self.name, e)
            return False
        self.delivered_since_restart = 0
        self.uploaded.clear()
        return True

    def stop_listener(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def make_instances(config: FleetConfig) -> list[Instance]:
    return [
        Instance(
            config=config,
            cfg=c,
            client=ComfyClient(c.url, token=c.token(), timeout_s=config.timeout_s),
        )
        for c in config.instances
    ]
