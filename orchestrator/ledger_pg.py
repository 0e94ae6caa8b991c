"""PostgreSQL ledger backend: several dispatchers share one ledger.

Selected by a URL (``vidgen run --ledger postgresql://user@host/db``; see
``ledgers.open_ledger``). It is the SQLite ledger's SQL (``ledger.MIGRATIONS``,
``?`` rewritten to ``%s``) on a psycopg 3 connection, plus what sharing needs:

* **Sessions.** Each ``PgLedger`` is one session (one dispatcher process). It
  holds a session-level advisory lock on its random ``owner`` id for as long as
  its connection lives; PostgreSQL releases it when the process dies (even
  ``kill -9``: the socket closes). "Is owner X alive?" is "is X's lock in
  ``pg_locks``?": no heartbeat table, no clock.
* **Claims.** ``next_queued`` selects with ``FOR UPDATE SKIP LOCKED`` (concurrent
  claimers skip each other's rows instead of waiting) and stamps
  ``jobs.claimed_by``; other sessions ignore a job claimed by a live session.
  ``begin_attempt`` re-checks the claim under a row lock, so a job can never get
  attempts from two live sessions.
* **Scope of in-flight work.** ``attempts(states=<live>)`` and
  ``jobs(<in-flight states>)`` return this session's work plus *orphaned* work
  (its session is gone), which this session takes over in the same transaction.
  That is exactly what ``Dispatcher._adopt_in_flight`` needs: a starting
  dispatcher adopts what a crashed one left, never what a live one is running.
  ``all_sessions=True`` sees everything (counts and terminal states always do).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from comfy_vidgen.errors import UsageError

from .ledger import (
    _ATTEMPT_COLS,
    _JOB_COLS,
    IN_FLIGHT,
    LIVE_ATTEMPTS,
    MIGRATIONS,
    Attempt,
    AttemptState,
    Job,
    JobState,
    SqlLedger,
    _attempt,
    _job,
)

log = logging.getLogger(__name__)

#: advisory-lock namespace (int4 ``classid``): ``'vidg'``; key 0 serialises migrations
LOCK_NS = 0x76696467

#: PostgreSQL-only migrations (session ownership), recorded in ``pg_schema_migrations``
PG_MIGRATIONS: list[list[str]] = [
    [
        "ALTER TABLE jobs ADD COLUMN claimed_by BIGINT",
        "ALTER TABLE attempts ADD COLUMN owner BIGINT",
        "CREATE INDEX jobs_claimed ON jobs (claimed_by)",
    ],
]

# owners whose session still holds its advisory lock (in this database)
_LIVE_OWNERS = (
    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted"
    f" AND classid = {LOCK_NS} AND objsubid = 2"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


_J_STATE = _JOB_COLS.index("state")
_A_STATE = _ATTEMPT_COLS.index("state")


class ClaimConflict(RuntimeError):
    """Another live dispatcher session holds this job (a bug or a split-brain)."""


def is_pg_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("postgres://", "postgresql://"))


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _pg_sql(sql: str, args: Sequence[Any] | None) -> str:
    return sql.replace("%", "%%").replace("?", "%s") if args else sql


class _Cursor:
    """The slice of ``sqlite3.Cursor`` the shared ledger code uses, on psycopg."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, sql: str, args: Sequence[Any] | None = None) -> _Cursor:
        self._cur.execute(_pg_sql(sql, args), args or None)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._cur.fetchone()
        return row

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._cur.fetchall())

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)


class _Db:
    """The slice of ``sqlite3.Connection`` the shared ledger code uses (autocommit reads)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] | None = None) -> _Cursor:
        return _Cursor(self.conn.cursor()).execute(sql, args)

    def close(self) -> None:
        self.conn.close()


class PgLedger(SqlLedger):
    """The ledger in PostgreSQL; one instance = one dispatcher session (see module doc)."""

    def __init__(self, url: str, *, connect_timeout_s: int = 10) -> None:
        try:
            import psycopg
        except ImportError:
            raise UsageError(
                "the PostgreSQL ledger needs psycopg 3: pip install 'comfy-vidgen[postgres]'"
            ) from None
        self.path = redact(url)
        try:
            conn = psycopg.connect(
                url,
                autocommit=True,
                connect_timeout=connect_timeout_s,
                application_name="vidgen-ledger",
            )
        except psycopg.Error as e:
            raise UsageError(f"cannot open the ledger {self.path}: {e}".strip()) from None
        self._db = _Db(conn)  # type: ignore[assignment]
        self._lock = threading.RLock()
        self.owner = self._take_session_lock()
        self._migrate()
        log.info("ledger %s: session %d", self.path, self.owner)

    # ------------------------------------------------------------------ plumbing
    @property
    def _conn(self) -> Any:
        return self._db.conn  # type: ignore[attr-defined]

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock, self._conn.transaction():
            yield _Cursor(self._conn.cursor())

    @contextmanager
    def batch(self) -> Iterator[None]:
        """No grouping here: each write stays its own transaction (claims need row locks)."""
        yield

    def _commit_batch(self) -> None:
        pass

    def begin_attempts(self, pairs: Iterable[tuple[str, str]]) -> list[Attempt]:
        return [self.begin_attempt(job_id, instance) for job_id, instance in pairs]

    def _take_session_lock(self) -> int:
        rng = random.SystemRandom()
        while True:
            owner = rng.randrange(1, 2**31)
            row = self._db.execute("SELECT pg_try_advisory_lock(?, ?)", (LOCK_NS, owner)).fetchone()
            if row and row[0]:
                return owner

    def _migrate(self) -> None:
        with self._tx() as cur:
            # two dispatchers starting together must not both create the tables
            cur.execute("SELECT pg_advisory_xact_lock(?, 0)", (LOCK_NS,))
            for table, plan in (
                ("schema_migrations", MIGRATIONS),
                ("pg_schema_migrations", PG_MIGRATIONS),
            ):
                cur.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} ("
                    "version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
                )
                done = {r[0] for r in cur.execute(f"SELECT version FROM {table}")}
                for version, statements in enumerate(plan, start=1):
                    if version in done:
                        continue
                    for sql in statements:
                        cur.execute(sql)
                    cur.execute(
                        f"INSERT INTO {table} (version, applied_at) VALUES (?, ?)",
                        (version, time.time()),
                    )

    def live_sessions(self) -> set[int]:
        """Owner ids of the sessions connected now (this one included)."""
        with self._lock:
            return {int(r[0]) for r in self._db.execute(_LIVE_OWNERS)}

    def hold_dispatch(self) -> None:
        """Nothing to hold: dispatchers share this ledger through session claims."""

    def close(self) -> None:
        """Release this session's unsubmitted claims, then its lock (by closing)."""
        with self._lock:
            if self._conn.closed:
                return
            try:
                self._db.execute(
                    "UPDATE jobs SET claimed_by = NULL WHERE claimed_by = ? AND state = ?",
                    (self.owner, JobState.QUEUED.value),
                )
            except Exception as e:  # connection already gone: the claims are orphans anyway
                log.info("ledger session %d: claims not released on close: %s", self.owner, e)
            finally:
                self._conn.close()

    # ------------------------------------------------------------------ jobs
    def jobs(
        self, states: Iterable[JobState] | None = None, *, all_sessions: bool = False
    ) -> list[Job]:
        st = None if states is None else [JobState(s) for s in states]
        if all_sessions or st is None or not set(st) & IN_FLIGHT:
            return super().jobs(st)
        if not st:
            return []
        flight = [s.value for s in IN_FLIGHT]
        with self._tx() as cur:
            rows = cur.execute(
                f"SELECT {', '.join(_JOB_COLS)}, claimed_by FROM jobs"
                f" WHERE state IN ({', '.join('?' * len(st))})"
                f" AND (state NOT IN ({', '.join('?' * len(flight))}) OR claimed_by IS NULL"
                f" OR claimed_by = ? OR claimed_by NOT IN ({_LIVE_OWNERS}))"
                " ORDER BY created_at, job_id",
                (*(s.value for s in st), *flight, self.owner),
            ).fetchall()
            orphans = [r[0] for r in rows if r[-1] != self.owner and r[_J_STATE] in flight]
            lost = set(orphans) - self._take_over(cur, "jobs", "job_id", orphans)
        return [_job(r[:-1]) for r in rows if r[0] not in lost]

    def _take_over(self, cur: Any, table: str, key: str, ids: list[str]) -> set[str]:
        """Lock the still-orphaned rows among ``ids`` (SKIP LOCKED: another adopter
        keeps its own), stamp them with this session; return the ids taken."""
        if not ids:
            return set()
        col = "claimed_by" if table == "jobs" else "owner"
        taken = [
            r[0]
            for r in cur.execute(
                f"SELECT {key} FROM {table} WHERE {key} = ANY(?) AND ({col} IS NULL"
                f" OR {col} NOT IN ({_LIVE_OWNERS})) FOR UPDATE SKIP LOCKED",
                (ids,),
            ).fetchall()
        ]
        if taken:
            log.info("ledger session %d adopts %d orphaned %s", self.owner, len(taken), table)
            cur.execute(f"UPDATE {table} SET {col} = ? WHERE {key} = ANY(?)", (self.owner, taken))
        return set(taken)

    def next_queued(self, limit: int, now: float, job_ids: set[str] | None = None) -> list[Job]:
        """Claim the oldest runnable queued jobs: ``FOR UPDATE SKIP LOCKED`` + ``claimed_by``.

        Claims this session did not turn into attempts since its last call are
        released first (and may be re-claimed at once): a job skipped for its
        ``avoid_instance`` does not stay pinned to one dispatcher.
        """
        if limit <= 0 or (job_ids is not None and not job_ids):
            return []
        where = (
            "state = ? AND not_before <= ? AND (claimed_by IS NULL OR claimed_by = ?"
            f" OR claimed_by NOT IN ({_LIVE_OWNERS}))"
        )
        args: list[Any] = [JobState.QUEUED.value, now, self.owner]
        if job_ids is not None:
            where += " AND job_id = ANY(?)"
            args.append(sorted(job_ids))
        with self._tx() as cur:
            cur.execute(
                "UPDATE jobs SET claimed_by = NULL WHERE claimed_by = ? AND state = ?",
                (self.owner, JobState.QUEUED.value),
            )
            rows = cur.execute(
                f"SELECT {', '.join(_JOB_COLS)} FROM jobs WHERE {where}"
                " ORDER BY not_before, created_at, job_id LIMIT ? FOR UPDATE SKIP LOCKED",
                (*args, limit),
            ).fetchall()
            if rows:
                cur.execute(
                    "UPDATE jobs SET claimed_by = ? WHERE job_id = ANY(?)",
                    (self.owner, [r[0] for r in rows]),
                )
        return [_job(r) for r in rows]

    # ------------------------------------------------------------------ attempts
    def begin_attempt(self, job_id: str, instance: str) -> Attempt:
        """Attempt n+1 under a row lock; refused if a live other session holds the job."""
        now = time.time()
        with self._tx() as cur:
            row = cur.execute(
                "SELECT attempts, claimed_by FROM jobs WHERE job_id = ? FOR UPDATE", (job_id,)
            ).fetchone()
            if row is None:
                raise KeyError(job_id)
            holder = row[1]
            if holder is not None and holder != self.owner:
                live = {int(r[0]) for r in cur.execute(_LIVE_OWNERS)}
                if holder in live:
                    raise ClaimConflict(
                        f"job {job_id} is claimed by dispatcher session {holder}, which is alive"
                    )
            return self._record_attempt(
                cur,
                job_id,
                int(row[0]) + 1,
                instance,
                now,
                attempt_extra={"owner": self.owner},
                job_extra={"claimed_by": self.owner},
            )

    def attempts(
        self,
        *,
        job_id: str | None = None,
        states: Iterable[AttemptState] | None = None,
        instance: str | None = None,
        all_sessions: bool = False,
    ) -> list[Attempt]:
        st = None if states is None else [AttemptState(s) for s in states]
        if all_sessions or st is None or not set(st) & LIVE_ATTEMPTS:
            return super().attempts(job_id=job_id, states=st, instance=instance)
        if not st:
            return []
        live_states = [s.value for s in LIVE_ATTEMPTS]
        where = [
            f"state IN ({', '.join('?' * len(st))})",
            f"(state NOT IN ({', '.join('?' * len(live_states))}) OR owner IS NULL"
            f" OR owner = ? OR owner NOT IN ({_LIVE_OWNERS}))",
        ]
        args: list[Any] = [*(s.value for s in st), *live_states, self.owner]
        if job_id is not None:
            where.append("job_id = ?")
            args.append(job_id)
        if instance is not None:
            where.append("instance = ?")
            args.append(instance)
        with self._tx() as cur:
            rows = cur.execute(
                f"SELECT {', '.join(_ATTEMPT_COLS)}, owner FROM attempts"
                f" WHERE {' AND '.join(where)} ORDER BY submitted_at, n",
                args,
            ).fetchall()
            orphans = [r for r in rows if r[-1] != self.owner and r[_A_STATE] in live_states]
            taken = self._take_over(cur, "attempts", "prompt_id", [r[0] for r in orphans])
            if taken:  # the adopted attempts' jobs come along
                cur.execute(
                    "UPDATE jobs SET claimed_by = ? WHERE job_id = ANY(?)",
                    (self.owner, sorted({r[1] for r in orphans if r[0] in taken})),
                )
            lost = {r[0] for r in orphans} - taken
        return [_attempt(r[:-1]) for r in rows if r[0] not in lost]
