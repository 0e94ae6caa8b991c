"""The durable job ledger: one row per job, one row per attempt, behind a small interface.

SQLite in WAL mode is the default backend. The SQL is kept portable (plain
types, ``?`` placeholders that a PostgreSQL backend rewrites to ``%s``, no
SQLite-only functions) so a second backend only needs ``_connect`` and the
claiming query (``FOR UPDATE SKIP LOCKED`` when several dispatchers share work).

A job's identity is ``(manifest_hash, workflow)``; ``add_job`` of a known
identity returns the existing row untouched. Every attempt is written *before*
its ``POST /prompt`` (write-ahead), so after a crash every prompt that may exist
on an instance is known and can be reconciled.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, TextIO

from comfy_vidgen.errors import VidgenError
from comfy_vidgen.manifest import Manifest, parse_manifest


class LedgerBusy(VidgenError):
    """Another live dispatcher holds this (SQLite) ledger: nothing was done (exit 2)."""

    exit_code = 2


class JobState(StrEnum):
    QUEUED = "queued"
    SUBMITTED = "submitted"
    RUNNING = "running"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"


IN_FLIGHT = frozenset({JobState.SUBMITTED, JobState.RUNNING, JobState.VERIFYING})
TERMINAL = frozenset({JobState.DONE, JobState.FAILED, JobState.REJECTED})


class AttemptState(StrEnum):
    SUBMITTING = "submitting"  # written before POST /prompt: may or may not exist remotely
    SUBMITTED = "submitted"
    RUNNING = "running"
    VERIFYING = "verifying"
    DONE = "done"
    ERROR = "error"
    LOST = "lost"  # vanished from the instance (restart) without an output
    ABANDONED = "abandoned"  # instance went down; the job was moved elsewhere


LIVE_ATTEMPTS = frozenset(
    {AttemptState.SUBMITTING, AttemptState.SUBMITTED, AttemptState.RUNNING, AttemptState.VERIFYING}
)


def make_job_id(manifest_id: str, manifest_hash: str, workflow: str) -> str:
    """Readable and unique: ``<manifest id>-<12 hex of sha256(hash/workflow)>``."""
    h = hashlib.sha256(f"{manifest_hash}/{workflow}".encode()).hexdigest()[:12]
    return f"{manifest_id[:80]}-{h}"


def attempt_ids(job_id: str, n: int) -> tuple[str, str]:
    """``(prompt_id, attempt_job_id)`` for attempt ``n`` of a job.

    The attempt job id is what NVENCEncode names its file after, so every
    attempt writes its own file and ComfyUI's cache never returns another's.
    The prompt id is fresh for every submission: ComfyUI keeps its history across
    ledgers, so an id derived from the job (the same manifest, run again with a new
    ledger or by another control machine) found the *earlier* run's history entry at
    the first reconcile and collected that run's clip, or reported it missing and
    queued the job twice. Recovery never needs to recompute it: the attempt row,
    prompt id included, is committed before the prompt is sent.
    """
    return str(uuid.uuid4()), f"{job_id}.a{n}"


@dataclass(frozen=True)
class Job:
    job_id: str
    manifest_hash: str
    workflow: str
    manifest_id: str
    manifest_json: str
    input_root: str
    state: JobState
    attempts: int
    lost: int
    instance: str | None
    error_class: str | None
    error_message: str | None
    not_before: float
    avoid_instance: str | None
    output_path: str | None
    audit_path: str | None
    created_at: float
    updated_at: float
    retry_base: int = 0

    @property
    def failures(self) -> int:
        """Failed attempts that count against the error budget (not lost ones)."""
        return self.attempts - self.lost - self.retry_base

    @property
    def manifest(self) -> Manifest:
        """The typed manifest every step shares (dispatch, verification, QC, audit).

        It was validated and canonicalised once, at submission (``remember_manifest``);
        a job read back by a later process is validated on its first use, once.
        """
        m = _TYPED.get(self.manifest_json)
        if m is None:
            m = remember_manifest(self.manifest_json, parse_manifest(self.manifest_json))
        return m


#: canonical manifest JSON -> its validated Manifest (frozen, so safely shared)
_TYPED: dict[str, Manifest] = {}
_TYPED_MAX = 20_000


def remember_manifest(canonical: str, m: Manifest) -> Manifest:
    """Record a validated manifest under its canonical JSON (what the ledger stores)."""
    if len(_TYPED) >= _TYPED_MAX:
        _TYPED.clear()  # a bound, not an LRU: a cleared entry is validated again on use
    _TYPED[canonical] = m
    return m


@dataclass(frozen=True)
class Attempt:
    prompt_id: str
    job_id: str
    n: int
    attempt_job_id: str
    instance: str
    state: AttemptState
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    error_class: str | None
    error_message: str | None


class Ledger(Protocol):
    """What the engines need from a ledger backend (SQLite now, PostgreSQL later)."""

    # ------------------------------------------------------------------ jobs
    def add_job(
        self,
        *,
        manifest_hash: str,
        workflow: str,
        manifest_id: str,
        manifest_json: str,
        input_root: str,
    ) -> tuple[Job, bool]: ...
    def get(self, job_id: str) -> Job | None: ...
    def jobs(self, states: Iterable[JobState] | None = None) -> list[Job]: ...
    def counts(self) -> dict[str, int]: ...
    def next_queued(self, limit: int, now: float, job_ids: set[str] | None = None) -> list[Job]: ...
    def begin_attempt(self, job_id: str, instance: str) -> Attempt: ...
    def begin_attempts(self, pairs: Iterable[tuple[str, str]]) -> list[Attempt]: ...
    def batch(self) -> AbstractContextManager[None]: ...
    def set_attempt(self, prompt_id: str, state: AttemptState, **fields: Any) -> None: ...
    def attempts(
        self,
        *,
        job_id: str | None = None,
        states: Iterable[AttemptState] | None = None,
        instance: str | None = None,
    ) -> list[Attempt]: ...
    def set_job(self, job_id: str, state: JobState, **fields: Any) -> None: ...
    def requeue(
        self,
        job_id: str,
        *,
        not_before: float,
        error_class: str,
        error_message: str,
        avoid_instance: str | None,
        lost: bool = False,
    ) -> None: ...
    def close(self) -> None: ...
    def hold_dispatch(self) -> None: ...
    def retry(self, job_id: str) -> bool: ...
    def redeliver(self, job_id: str) -> bool: ...
    def instance_stats(self) -> dict[str, dict[str, float]]: ...


# Each migration is a list of portable statements; applied once, in order.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE jobs (
            job_id VARCHAR(128) PRIMARY KEY,
            manifest_hash CHAR(64) NOT NULL,
            workflow VARCHAR(64) NOT NULL,
            manifest_id VARCHAR(128) NOT NULL,
            manifest_json TEXT NOT NULL,
            input_root TEXT NOT NULL,
            state VARCHAR(16) NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            lost INTEGER NOT NULL DEFAULT 0,
            instance VARCHAR(128),
            error_class VARCHAR(32),
            error_message TEXT,
            not_before DOUBLE PRECISION NOT NULL DEFAULT 0,
            avoid_instance VARCHAR(128),
            output_path TEXT,
            audit_path TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            UNIQUE (manifest_hash, workflow)
        )""",
        "CREATE INDEX jobs_state ON jobs (state, created_at)",
        """CREATE TABLE attempts (
            prompt_id VARCHAR(64) PRIMARY KEY,
            job_id VARCHAR(128) NOT NULL REFERENCES jobs (job_id),
            n INTEGER NOT NULL,
            attempt_job_id VARCHAR(160) NOT NULL,
            instance VARCHAR(128) NOT NULL,
            state VARCHAR(16) NOT NULL,
            submitted_at DOUBLE PRECISION NOT NULL,
            started_at DOUBLE PRECISION,
            finished_at DOUBLE PRECISION,
            error_class VARCHAR(32),
            error_message TEXT,
            UNIQUE (job_id, n)
        )""",
        "CREATE INDEX attempts_state ON attempts (state)",
        "CREATE INDEX attempts_job ON attempts (job_id)",
    ],
    # 2: `vidgen retry` gives a failed job a fresh error budget without reusing attempt numbers
    ["ALTER TABLE jobs ADD COLUMN retry_base INTEGER NOT NULL DEFAULT 0"],
]

_JOB_COLS = [f.name for f in fields(Job)]
_ATTEMPT_COLS = [f.name for f in fields(Attempt)]
_JOB_FIELDS = set(_JOB_COLS) - {"job_id", "state", "created_at"}
_ATTEMPT_FIELDS = {"started_at", "finished_at", "error_class", "error_message"}


def _job(row: tuple[Any, ...]) -> Job:
    d = dict(zip(_JOB_COLS, row, strict=True))
    d["state"] = JobState(d["state"])
    return Job(**d)


def _attempt(row: tuple[Any, ...]) -> Attempt:
    d = dict(zip(_ATTEMPT_COLS, row, strict=True))
    d["state"] = AttemptState(d["state"])
    return Attempt(**d)


class SqlLedger:
    """The ledger's SQL, shared by both backends (plain types, ``?`` placeholders).

    A backend supplies the connection and its transactions (``_tx``, ``batch``,
    ``_commit_batch``), ``close`` and ``hold_dispatch``: ``SqliteLedger`` here,
    ``PgLedger`` in ``ledger_pg``. Code is typed against the ``Ledger`` protocol.
    """

    path: str
    _db: sqlite3.Connection
    _lock: threading.RLock

    def _tx(self) -> AbstractContextManager[sqlite3.Cursor]:
        raise NotImplementedError

    def batch(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _commit_batch(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def hold_dispatch(self) -> None:
        raise NotImplementedError

    def _write1(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        """One write statement: atomic on its own, so no savepoint or BEGIN is needed.

        Outside a batch the connection autocommits it; inside one it joins the open
        transaction, and a failing statement is undone by SQLite alone (statement
        journal) while the batch goes on, which is what ``_tx``'s savepoint gives a
        multi-statement body. The dispatcher makes ~9 such writes per job.
        """
        with self._lock:
            return self._db.execute(sql, params)

    def _migrate(self) -> None:
        with self._tx() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
            done = {r[0] for r in cur.execute("SELECT version FROM schema_migrations")}
            for version, statements in enumerate(MIGRATIONS, start=1):
                if version in done:
                    continue
                for sql in statements:
                    cur.execute(sql)
                cur.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, time.time()),
                )

    @property
    def schema_version(self) -> int:
        row = self._db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def add_job(
        self,
        *,
        manifest_hash: str,
        workflow: str,
        manifest_id: str,
        manifest_json: str,
        input_root: str,
    ) -> tuple[Job, bool]:
        """Insert a queued job, or return the existing job of this identity (created=False).

        Insert-or-nothing, then read back: safe when two dispatchers add the same job
        at once (PostgreSQL shares this method).
        """
        now = time.time()
        job_id = make_job_id(manifest_id, manifest_hash, workflow)
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO jobs (job_id, manifest_hash, workflow, manifest_id, manifest_json,"
                " input_root, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (
                    job_id,
                    manifest_hash,
                    workflow,
                    manifest_id,
                    manifest_json,
                    input_root,
                    JobState.QUEUED.value,
                    now,
                    now,
                ),
            )
            created = cur.rowcount == 1
            row = cur.execute(
                f"SELECT {', '.join(_JOB_COLS)} FROM jobs WHERE manifest_hash = ? AND workflow = ?",
                (manifest_hash, workflow),
            ).fetchone()
        assert row is not None
        return _job(row), created

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(_JOB_COLS)} FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
        return _job(row) if row else None

    def jobs(self, states: Iterable[JobState] | None = None) -> list[Job]:
        sql = f"SELECT {', '.join(_JOB_COLS)} FROM jobs"
        args: tuple[str, ...] = ()
        if states is not None:
            args = tuple(s.value for s in states)
            sql += f" WHERE state IN ({', '.join('?' * len(args))})" if args else " WHERE 1 = 0"
        with self._lock:
            return [_job(r) for r in self._db.execute(sql + " ORDER BY created_at, job_id", args)]

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in JobState}
        with self._lock:
            for state, n in self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
                out[state] = int(n)
        return out

    def next_queued(self, limit: int, now: float, job_ids: set[str] | None = None) -> list[Job]:
        """Oldest queued jobs whose backoff has expired, optionally only among ``job_ids``.

        Pages through the queue (the first page almost always suffices), so the
        cost does not grow with the number of queued jobs. A PostgreSQL backend
        claims the rows with ``FOR UPDATE SKIP LOCKED``.
        """
        sql = (
            f"SELECT {', '.join(_JOB_COLS)} FROM jobs WHERE state = ? AND not_before <= ?"
            " ORDER BY not_before, created_at, job_id LIMIT ? OFFSET ?"
        )
        page = max(limit * 4, 64)
        out: list[Job] = []
        offset = 0
        while len(out) < limit:
            with self._lock:
                rows = self._db.execute(sql, (JobState.QUEUED.value, now, page, offset)).fetchall()
            out.extend(j for j in map(_job, rows) if job_ids is None or j.job_id in job_ids)
            if len(rows) < page:
                break
            offset += page
        return out[:limit]

    def set_job(self, job_id: str, state: JobState, **fields: Any) -> None:
        bad = set(fields) - _JOB_FIELDS
        if bad:
            raise ValueError(f"unknown job fields {sorted(bad)}")
        cols = ["state = ?", "updated_at = ?", *(f"{k} = ?" for k in fields)]
        self._write1(
            f"UPDATE jobs SET {', '.join(cols)} WHERE job_id = ?",
            (state.value, time.time(), *fields.values(), job_id),
        )

    def requeue(
        self,
        job_id: str,
        *,
        not_before: float,
        error_class: str,
        error_message: str,
        avoid_instance: str | None,
        lost: bool = False,
    ) -> None:
        self._write1(
            "UPDATE jobs SET state = ?, not_before = ?, error_class = ?, error_message = ?,"
            " avoid_instance = ?, lost = lost + ?, updated_at = ? WHERE job_id = ?",
            (
                JobState.QUEUED.value,
                not_before,
                error_class,
                error_message,
                avoid_instance,
                1 if lost else 0,
                time.time(),
                job_id,
            ),
        )

    # ------------------------------------------------------------------ attempts
    def begin_attempts(self, pairs: Iterable[tuple[str, str]]) -> list[Attempt]:
        """``begin_attempt`` for several ``(job_id, instance)`` pairs, in one durable commit."""
        with self.batch():
            out = [self._begin_attempt(job_id, instance) for job_id, instance in pairs]
            self._commit_batch()
        return out

    def begin_attempt(self, job_id: str, instance: str) -> Attempt:
        """Record attempt n+1 (state submitting) and move the job to submitted, atomically.

        Durable when it returns, even inside a ``batch`` (write-ahead)."""
        with self._lock:
            att = self._begin_attempt(job_id, instance)
            self._commit_batch()
        return att

    def _begin_attempt(self, job_id: str, instance: str) -> Attempt:
        now = time.time()
        with self._tx() as cur:
            row = cur.execute("SELECT attempts FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            return self._record_attempt(cur, job_id, int(row[0]) + 1, instance, now)

    def _record_attempt(
        self,
        cur: Any,
        job_id: str,
        n: int,
        instance: str,
        now: float,
        *,
        attempt_extra: dict[str, Any] | None = None,
        job_extra: dict[str, Any] | None = None,
    ) -> Attempt:
        """Insert attempt ``n`` (submitting) and move its job to submitted, in ``cur``'s
        transaction; backends add their own columns (e.g. the PostgreSQL owner)."""
        prompt_id, attempt_job_id = attempt_ids(job_id, n)
        att_cols = {
            "prompt_id": prompt_id,
            "job_id": job_id,
            "n": n,
            "attempt_job_id": attempt_job_id,
            "instance": instance,
            "state": AttemptState.SUBMITTING.value,
            "submitted_at": now,
            **(attempt_extra or {}),
        }
        cur.execute(
            f"INSERT INTO attempts ({', '.join(att_cols)})"
            f" VALUES ({', '.join('?' for _ in att_cols)})",
            tuple(att_cols.values()),
        )
        job_cols = {
            "state": JobState.SUBMITTED.value,
            "attempts": n,
            "instance": instance,
            "updated_at": now,
            **(job_extra or {}),
        }
        cur.execute(
            f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in job_cols)} WHERE job_id = ?",
            (*job_cols.values(), job_id),
        )
        return Attempt(
            prompt_id,
            job_id,
            n,
            attempt_job_id,
            instance,
            AttemptState.SUBMITTING,
            now,
            None,
            None,
            None,
            None,
        )

    def set_attempt(self, prompt_id: str, state: AttemptState, **fields: Any) -> None:
        bad = set(fields) - _ATTEMPT_FIELDS
        if bad:
            raise ValueError(f"unknown attempt fields {sorted(bad)}")
        cols = ["state = ?", *(f"{k} = ?" for k in fields)]
        self._write1(
            f"UPDATE attempts SET {', '.join(cols)} WHERE prompt_id = ?",
            (state.value, *fields.values(), prompt_id),
        )

    def attempts(
        self,
        *,
        job_id: str | None = None,
        states: Iterable[AttemptState] | None = None,
        instance: str | None = None,
    ) -> list[Attempt]:
        where: list[str] = []
        args: list[Any] = []
        if job_id is not None:
            where.append("job_id = ?")
            args.append(job_id)
        if instance is not None:
            where.append("instance = ?")
            args.append(instance)
        if states is not None:
            st = [s.value for s in states]
            where.append(f"state IN ({', '.join('?' * len(st))})" if st else "1 = 0")
            args.extend(st)
        sql = f"SELECT {', '.join(_ATTEMPT_COLS)} FROM attempts"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            return [_attempt(r) for r in self._db.execute(sql + " ORDER BY submitted_at, n", args)]

    def retry(self, job_id: str) -> bool:
        """Requeue a failed/rejected job with a fresh error budget; False if not retryable."""
        cur = self._write1(
            "UPDATE jobs SET state = ?, not_before = 0, avoid_instance = NULL,"
            " retry_base = attempts - lost, updated_at = ? WHERE job_id = ? AND state IN (?, ?)",
            (
                JobState.QUEUED.value,
                time.time(),
                job_id,
                JobState.FAILED.value,
                JobState.REJECTED.value,
            ),
        )
        return cur.rowcount == 1

    def redeliver(self, job_id: str) -> bool:
        """Requeue a done job whose delivery is gone or changed; False if not done.

        Its attempts stay on record and the next one is numbered after them, so the
        audit trail shows both deliveries."""
        cur = self._write1(
            "UPDATE jobs SET state = ?, not_before = 0, avoid_instance = NULL,"
            " retry_base = attempts - lost, error_class = NULL, error_message = ?,"
            " updated_at = ? WHERE job_id = ? AND state = ?",
            (
                JobState.QUEUED.value,
                "redelivery requested",
                time.time(),
                job_id,
                JobState.DONE.value,
            ),
        )
        return cur.rowcount == 1

    def instance_stats(self) -> dict[str, dict[str, float]]:
        """Per instance: finished attempts, done attempts, mean run seconds."""
        out: dict[str, dict[str, float]] = {}
        with self._lock:
            rows = self._db.execute(
                "SELECT instance, state, COUNT(*), AVG(finished_at - submitted_at),"
                " MIN(submitted_at), MAX(finished_at) FROM attempts GROUP BY instance, state"
            ).fetchall()
        for inst, state, n, avg, first, last in rows:
            d = out.setdefault(
                inst, {"attempts": 0, "done": 0, "errors": 0, "mean_s": 0.0, "jobs_per_hour": 0.0}
            )
            d["attempts"] += n
            if state == AttemptState.DONE.value:
                d["done"] = n
                d["mean_s"] = float(avg or 0.0)
                span = (last or 0) - (first or 0)
                d["jobs_per_hour"] = n * 3600.0 / span if span > 0 else 0.0
            elif state in (AttemptState.ERROR.value, AttemptState.LOST.value):
                d["errors"] += n
        return out


class SqliteLedger(SqlLedger):
    """SQLite (WAL) ledger. ``durable=True`` fsyncs every commit (synchronous=FULL);
    NORMAL already survives process crashes (SIGKILL), only power loss can drop
    the last commits."""

    def __init__(self, path: str | Path, *, durable: bool = True) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.RLock()
        self._dispatch_lock: TextIO | None = None
        self._batch_cur: sqlite3.Cursor | None = None
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._migrate()

    # ------------------------------------------------------------------ plumbing
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            outer = self._batch_cur
            if outer is not None:  # joined to the open batch: a savepoint, committed with it
                outer.execute("SAVEPOINT tx")
                try:
                    yield outer
                except BaseException:
                    outer.execute("ROLLBACK TO tx")
                    outer.execute("RELEASE tx")
                    raise
                outer.execute("RELEASE tx")
                return
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group every write of this thread into one transaction, committed at the end.

        The dispatcher wraps each pass of its loop in a batch: state changes that
        only record progress (running, verifying, done, requeue) then cost one
        commit per pass instead of one each. ``begin_attempt(s)`` commits the open
        batch before returning, so the write-ahead rule (an attempt is durable
        before its ``POST /prompt``) holds inside a batch too. A crash loses at most
        the progress of one pass, which reconciliation redoes (``/history`` is the
        truth and delivery is idempotent).
        """
        with self._lock:
            if self._batch_cur is not None:
                yield
                return
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            self._batch_cur = cur
            try:
                yield
            except BaseException:
                self._batch_cur = None
                cur.execute("ROLLBACK")
                raise
            self._batch_cur = None
            cur.execute("COMMIT")

    def _commit_batch(self) -> None:
        """Make everything written so far durable (before an external side effect)."""
        cur = self._batch_cur
        if cur is not None:
            cur.execute("COMMIT")
            cur.execute("BEGIN IMMEDIATE")

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self._dispatch_lock is not None:
            self._dispatch_lock.close()  # releases the flock
            self._dispatch_lock = None

    def hold_dispatch(self) -> None:
        """Become the one dispatcher of this ledger file until ``close`` (or death).

        SQLite serialises writes but cannot tell a live dispatcher's running job from
        a lost one, so a second dispatcher on the same file would "reconcile" the
        first one's jobs and render them again. It is refused at once instead, naming
        the holder; several dispatchers share a PostgreSQL ledger (``ledger_pg``),
        whose session locks do tell. The lock is an ``flock`` on ``<ledger>.lock``:
        the kernel drops it when the holder exits, ``kill -9`` included.
        """
        if self.path == ":memory:" or self._dispatch_lock is not None:
            return
        lock_path = Path(f"{self.path}.lock")
        f = open(lock_path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise LedgerBusy(
                f"ledger {self.path} is in use by {holder}: wait for it to finish, or "
                "share work between dispatchers through a PostgreSQL ledger"
            ) from None
        f.seek(0)
        f.truncate()
        since = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())
        f.write(f"vidgen pid {os.getpid()} on {socket.gethostname()} since {since}\n")
        f.flush()
        self._dispatch_lock = f
