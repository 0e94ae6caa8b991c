"""A small, typed client for the ComfyUI HTTP + websocket API (pinned v0.3.64 shapes).

Every call has a timeout; failures are mapped to two error types the dispatcher
can classify without looking at strings: ``TransportError`` (connection refused,
timeout, 5xx: worth retrying elsewhere) and ``PromptRejected`` (HTTP 400 with
``node_errors``: the graph or an input is wrong, retrying cannot help).
An optional bearer token is sent for an authenticating proxy in front of ComfyUI.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from comfy_vidgen.errors import VidgenError

log = logging.getLogger(__name__)

#: events the dispatcher understands; anything else is passed through untouched
KNOWN_EVENTS = frozenset(
    {
        "status",
        "execution_start",
        "execution_cached",
        "executing",
        "progress",
        "progress_state",
        "executed",
        "execution_success",
        "execution_error",
        "execution_interrupted",
    }
)


class ComfyError(VidgenError):
    """Base class of every failure talking to a ComfyUI instance."""


class TransportError(ComfyError):
    """The instance could not be reached or answered 5xx / garbage: retryable.

    ``ambiguous`` is True when the request may have been processed (read timeout,
    connection cut mid-response): a submission must then be reconciled, not redone.
    """

    def __init__(self, message: str, *, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


class PromptRejected(ComfyError):
    """``POST /prompt`` answered 400: the graph failed validation (not retryable)."""

    def __init__(self, error: dict[str, Any], node_errors: dict[str, Any]) -> None:
        self.error = error
        self.node_errors = node_errors
        super().__init__(describe_rejection(error, node_errors))


def describe_rejection(error: dict[str, Any], node_errors: dict[str, Any]) -> str:
    """One line with the node's own message, e.g. ``node 1 (ManifestLoader): manifest_json: ...``."""
    parts: list[str] = []
    for node_id, ne in sorted(node_errors.items()):
        cls = ne.get("class_type", "?")
        for err in ne.get("errors", []):
            inp = (err.get("extra_info") or {}).get("input_name")
            where = f"{inp}: " if inp else ""
            text = str(err.get("message") or "")
            if err.get("details") and err.get("details") != inp:
                text = f"{text}: {err['details']}" if text else str(err["details"])
            parts.append(f"node {node_id} ({cls}): {where}{text}")
    head = error.get("message") if isinstance(error, dict) else str(error)
    return f"{head}: " + "; ".join(parts) if parts else str(head)


@dataclass(frozen=True)
class Submitted:
    prompt_id: str
    number: float
    node_errors: dict[str, Any]


@dataclass(frozen=True)
class QueueState:
    running: frozenset[str]
    pending: frozenset[str]

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self.running or prompt_id in self.pending


@dataclass(frozen=True)
class HistoryEntry:
    """``/history/{id}`` for one prompt: the only source of truth for completion."""

    prompt_id: str
    status_str: str
    completed: bool
    outputs: dict[str, Any]
    messages: list[tuple[str, dict[str, Any]]]

    @property
    def success(self) -> bool:
        return self.status_str == "success" and self.completed

    def message(self, event: str) -> dict[str, Any] | None:
        for name, data in self.messages:
            if name == event:
                return data
        return None

    def vidgen_outputs(self) -> list[dict[str, Any]]:
        """The ``vidgen_outputs`` entries the NVENCEncode node reports, in node order."""
        found: list[dict[str, Any]] = []
        for _node, out in sorted(self.outputs.items()):
            if isinstance(out, dict):
                found.extend(o for o in out.get("vidgen_outputs", []) if isinstance(o, dict))
        return found


@dataclass(frozen=True)
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_id(self) -> str | None:
        pid = self.data.get("prompt_id")
        return pid if isinstance(pid, str) else None


def parse_history(prompt_id: str, body: Any) -> HistoryEntry | None:
    """``{}`` (unknown id) -> None; otherwise the typed entry (raises TransportError on garbage)."""
    if not isinstance(body, dict):
        raise TransportError(f"/history/{prompt_id}: expected a JSON object")
    entry = body.get(prompt_id)
    if entry is None:
        return None
    status = entry.get("status") or {}
    messages = [
        (str(m[0]), m[1] if isinstance(m[1], dict) else {})
        for m in status.get("messages", [])
        if isinstance(m, list | tuple) and len(m) == 2
    ]
    return HistoryEntry(
        prompt_id=prompt_id,
        status_str=str(status.get("status_str", "")),
        completed=bool(status.get("completed", False)),
        outputs=entry.get("outputs") or {},
        messages=messages,
    )


class _RawResponse:
    """The slice of ``requests.Response`` the client uses, over a urllib3 response."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.status_code = int(raw.status)

    @property
    def content(self) -> bytes:
        return bytes(self._raw.data)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        import urllib3

        try:
            yield from self._raw.stream(chunk_size)
        except urllib3.exceptions.HTTPError as e:
            raise requests.exceptions.ChunkedEncodingError(str(e)) from None

    def close(self) -> None:
        self._raw.release_conn()


class ComfyClient:
    """One ComfyUI instance. Thread-safe for concurrent calls (one requests session each)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        transfer_timeout_s: float = 120.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.transfer_timeout_s = transfer_timeout_s
        self._local = threading.local()

    # ------------------------------------------------------------------ plumbing
    @property
    def _session(self) -> requests.Session:
        s: requests.Session | None = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            # The environment (proxies, CA bundle) is read once here instead of on
            # every request: requests' per-request lookup cost ~0.4 ms each.
            s.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if ca:
                s.verify = ca
            s.trust_env = False
            if self.token:
                s.headers["Authorization"] = f"Bearer {self.token}"
            self._local.session = s
        return s

    def close(self) -> None:
        s = getattr(self._local, "session", None)
        if s is not None:
            s.close()
            self._local.session = None

    def _request(
        self,
        method: str,
        path: str,
        *,
        timeout: float | None = None,
        prepared: bool = False,
        **kw: Any,
    ) -> requests.Response:
        url = f"{self.base_url}{path}"
        session = self._session
        try:
            if prepared and not session.proxies:
                # the hot POST /prompt: prepare directly and send through the same
                # adapter, skipping Session.request's per-call settings merge
                prep = requests.PreparedRequest()
                prep.prepare(method=method, url=url, headers=dict(session.headers), **kw)
                r = session.send(prep, timeout=timeout or self.timeout_s, allow_redirects=False)
            else:
                r = session.request(method, url, timeout=timeout or self.timeout_s, **kw)
        except requests.RequestException as e:
            ambiguous = isinstance(
                e, requests.ReadTimeout | requests.exceptions.ChunkedEncodingError
            )
            raise TransportError(
                f"{method} {url}: {type(e).__name__}: {e}", ambiguous=ambiguous
            ) from None
        if r.status_code >= 500:
            raise TransportError(f"{method} {url}: HTTP {r.status_code}")
        return r

    def _get(self, path: str, *, timeout: float | None = None, stream: bool = False) -> Any:
        """GET through the session's own urllib3 pool for plain-HTTP racks.

        requests' per-call machinery (request preparation, hooks, adapter lookup)
        costs ~0.25 ms of CPU per call, about a twentieth of the dispatcher's budget
        per job; /history and /view run for every job. HTTPS and proxied instances
        keep the full requests path (its TLS and proxy handling). The result offers
        what the callers use: status_code, json(), text, iter_content(), close().
        """
        url = f"{self.base_url}{path}"
        session = self._session
        if not url.startswith("http://") or session.proxies:
            return self._request("GET", path, timeout=timeout, stream=stream)
        import urllib3

        t = timeout or self.timeout_s
        try:
            adapter = session.get_adapter(url)
            assert isinstance(adapter, requests.adapters.HTTPAdapter)
            pool = adapter.poolmanager.connection_from_url(url)
            raw = pool.urlopen(
                "GET",
                url,
                headers=dict(session.headers),
                timeout=urllib3.Timeout(connect=t, read=t),
                retries=False,
                redirect=False,
                preload_content=not stream,
            )
        except urllib3.exceptions.HTTPError as e:
            raise TransportError(f"GET {url}: {type(e).__name__}: {e}") from None
        r = _RawResponse(raw)
        if r.status_code >= 500:
            r.close()
            raise TransportError(f"GET {url}: HTTP {r.status_code}")
        return r

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        r = self._get(path, **kw) if method == "GET" else self._request(method, path, **kw)
        if r.status_code != 200:
            raise TransportError(f"{method} {path}: HTTP {r.status_code}: {r.text[:200]}")
        try:
            return r.json()
        except ValueError:
            raise TransportError(f"{method} {path}: response is not JSON") from None

    # ------------------------------------------------------------------ API
    def submit(
        self,
        prompt: dict[str, Any],
        *,
        prompt_id: str,
        client_id: str,
        extra_data: dict[str, Any] | None = None,
    ) -> Submitted:
        """``POST /prompt`` with a client-chosen id (ComfyUI does not deduplicate: we do)."""
        body: dict[str, Any] = {"prompt": prompt, "prompt_id": prompt_id, "client_id": client_id}
        if extra_data:
            body["extra_data"] = extra_data
        r = self._request("POST", "/prompt", json=body, prepared=True)
        try:
            data = r.json()
        except ValueError:
            raise TransportError(f"POST /prompt: HTTP {r.status_code}, body is not JSON") from None
        if r.status_code == 400:
            raise PromptRejected(data.get("error") or {}, data.get("node_errors") or {})
        if r.status_code != 200:
            raise TransportError(f"POST /prompt: HTTP {r.status_code}")
        return Submitted(
            prompt_id=str(data.get("prompt_id", prompt_id)),
            number=float(data.get("number", 0)),
            node_errors=data.get("node_errors") or {},
        )

    def history(self, prompt_id: str) -> HistoryEntry | None:
        return parse_history(prompt_id, self._json("GET", f"/history/{prompt_id}"))

    def queue(self) -> QueueState:
        data = self._json("GET", "/queue")

        def ids(items: Any) -> frozenset[str]:
            return frozenset(str(i[1]) for i in items or [] if isinstance(i, list) and len(i) > 1)

        return QueueState(ids(data.get("queue_running")), ids(data.get("queue_pending")))

    def delete_queued(self, prompt_ids: list[str]) -> None:
        self._request("POST", "/queue", json={"delete": prompt_ids})

    def interrupt(self, prompt_id: str | None = None) -> None:
        self._request("POST", "/interrupt", json={"prompt_id": prompt_id} if prompt_id else {})

    def system_stats(self) -> dict[str, Any]:
        data = self._json("GET", "/system_stats")
        if not isinstance(data, dict):
            raise TransportError("/system_stats: expected a JSON object")
        return data

    def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        path = f"/object_info/{node_class}" if node_class else "/object_info"
        data = self._json("GET", path)
        return data if isinstance(data, dict) else {}

    def upload_image(
        self, path: str | os.PathLike[str], *, subfolder: str, name: str | None = None
    ) -> dict[str, str]:
        """``POST /upload/image`` into the input folder; returns ``{name, subfolder, type}``.

        Without ``overwrite`` ComfyUI keeps an identical existing file (same bytes)
        and renames on a conflict, so the returned name is the one to reference.
        """
        p = Path(path)
        with open(p, "rb") as f:
            r = self._request(
                "POST",
                "/upload/image",
                files={"image": (name or p.name, f, "application/octet-stream")},
                data={"subfolder": subfolder, "type": "input"},
                timeout=self.transfer_timeout_s,
            )
        if r.status_code != 200:
            raise TransportError(f"POST /upload/image: HTTP {r.status_code}")
        data = r.json()
        return {k: str(data.get(k, "")) for k in ("name", "subfolder", "type")}

    def download(
        self,
        filename: str,
        dest: str | os.PathLike[str],
        *,
        subfolder: str = "",
        type: str = "output",
    ) -> bool:
        """Stream ``/view`` to ``dest`` (written whole or not at all); False on 404."""
        from comfy_vidgen.fsutil import atomic_output

        q = urlencode({"filename": filename, "subfolder": subfolder, "type": type})
        r = self._get(f"/view?{q}", stream=True, timeout=self.transfer_timeout_s)
        if r.status_code == 404:
            r.close()
            return False
        if r.status_code != 200:
            r.close()
            raise TransportError(f"GET /view {subfolder}/{filename}: HTTP {r.status_code}")
        try:
            with atomic_output(dest) as f:
                for chunk in r.iter_content(1 << 20):
                    f.write(chunk)
        except requests.RequestException as e:
            raise TransportError(f"GET /view {subfolder}/{filename}: {e}") from None
        finally:
            r.close()
        return True

    def view_bytes(
        self, filename: str, *, subfolder: str = "", type: str = "output"
    ) -> bytes | None:
        q = urlencode({"filename": filename, "subfolder": subfolder, "type": type})
        r = self._get(f"/view?{q}", timeout=self.transfer_timeout_s)
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise TransportError(f"GET /view {subfolder}/{filename}: HTTP {r.status_code}")
        return bytes(r.content)

    # ------------------------------------------------------------------ websocket
    def ws_url(self, client_id: str) -> str:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit(
            (scheme, parts.netloc, parts.path + "/ws", urlencode({"clientId": client_id}), "")
        )

    def events(
        self,
        client_id: str,
        *,
        stop: threading.Event,
        recv_timeout_s: float = 1.0,
        types: frozenset[str] | None = None,
        keep: Callable[[str, str], bool] | None = None,
        on_open: Callable[[], None] | None = None,
        silent_after_s: float | None = None,
        expecting: Callable[[], bool] | None = None,
    ) -> Iterator[Event]:
        """Yield JSON events of one websocket connection until it drops or ``stop`` is set.

        Binary frames (previews) are skipped. A drop ends the iterator; the caller
        reconnects and reconciles from ``/history`` (events missed meanwhile are
        never assumed). ``types`` and ``keep(type, raw_text)`` drop events before
        they are parsed; ``on_open`` runs on the first frame (ComfyUI's ``status``
        greeting, sent once the server has registered the socket), before any event.
        A connection that delivers no frame for ``silent_after_s`` while ``expecting()``
        is true is closed (ComfyUI's socket can stay open but quiet), so the caller
        reconnects and reconciles.
        """
        import websocket

        header = [f"Authorization: Bearer {self.token}"] if self.token else None
        try:
            ws = websocket.create_connection(
                self.ws_url(client_id),
                timeout=self.timeout_s,
                header=header,
                skip_utf8_validation=True,  # json.loads decodes it anyway; pure Python is slow
            )
        except (OSError, websocket.WebSocketException) as e:
            raise TransportError(f"websocket {self.base_url}: {e}") from None
        ws.settimeout(recv_timeout_s)
        _read_ahead(ws)
        last_frame = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    msg = ws.recv()
                except websocket.WebSocketTimeoutException:
                    quiet = time.monotonic() - last_frame
                    if silent_after_s is not None and quiet > silent_after_s:
                        if expecting is None or expecting():
                            log.warning(
                                "websocket %s silent for %.0f s with a prompt running: "
                                "reconnecting",
                                self.base_url,
                                quiet,
                            )
                            return
                        last_frame = time.monotonic()  # idle: silence is normal
                    continue
                except (OSError, websocket.WebSocketException):
                    return
                last_frame = time.monotonic()
                if isinstance(msg, bytes) or not msg:
                    if not msg:
                        return
                    continue
                if on_open is not None:
                    on_open()  # ComfyUI greets a registered socket with ``status``
                    on_open = None
                if types is not None or keep is not None:
                    kind = _event_type(msg)
                    if kind is not None:
                        if types is not None and kind not in types:
                            continue  # e.g. per-step progress_state: not parsed at all
                        if keep is not None and not keep(kind, msg):
                            continue
                try:
                    obj = json.loads(msg)
                except ValueError:
                    continue
                if isinstance(obj, dict) and isinstance(obj.get("type"), str):
                    data = obj.get("data")
                    yield Event(obj["type"], data if isinstance(data, dict) else {})
        finally:
            ws.close()


_READ_AHEAD = 16384


def _read_ahead(ws: Any) -> None:
    """Let websocket-client read whole socket buffers instead of exactly what it parses.

    Its frame reader asks the socket for the 2-byte header, then the length, then the
    payload: two or three ``recv`` calls, and often a thread wake-up, per frame.
    ComfyUI sends a burst of small frames per prompt (~30 in a zero-work run), so
    that was a third of the orchestrator's CPU time (system time and context
    switches). ``frame_buffer.recv_strict`` keeps whatever a read returns beyond the
    request, so reading up to 16 KiB at a time is within its contract.
    """
    fb = getattr(ws, "frame_buffer", None)
    recv = getattr(fb, "recv", None)
    if fb is None or recv is None or not hasattr(fb, "recv_buffer"):
        return  # another websocket-client layout: keep its own reads

    def read(_bufsize: int) -> bytes:
        data: bytes = recv(_READ_AHEAD)
        return data

    fb.recv = read


_TYPE_PREFIX = '{"type": "'


def _event_type(msg: str) -> str | None:
    """The event type from ComfyUI's ``json.dumps({"type": ..., "data": ...})`` prefix,
    without parsing the message; None (= parse it) for any other layout."""
    if not msg.startswith(_TYPE_PREFIX):
        return None
    end = msg.find('"', len(_TYPE_PREFIX))
    return msg[len(_TYPE_PREFIX) : end] if end > 0 else None


def wait_until_up(client: ComfyClient, timeout_s: float = 30.0) -> dict[str, Any]:
    """Poll ``/system_stats`` until the instance answers (used by tests and start-up)."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return client.system_stats()
        except TransportError as e:
            last = e
            time.sleep(0.05)
    raise TransportError(f"{client.base_url} did not come up within {timeout_s:.0f}s: {last}")


EventCallback = Callable[[str, Event], None]
