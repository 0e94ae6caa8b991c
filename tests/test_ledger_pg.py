"""The ledger contract on both backends (SQLite file, real PostgreSQL), then what only a
shared PostgreSQL ledger must do: disjoint claims under contention, session ownership,
adoption of a dead dispatcher's work and never a live one's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rack_env import pg_schema

from orchestrator.ledger import (
    IN_FLIGHT,
    LIVE_ATTEMPTS,
    MIGRATIONS,
    AttemptState,
    JobState,
    SqliteLedger,
    attempt_ids,
    make_job_id,
)
from orchestrator.ledgers import open_ledger

Opener = Callable[[], SqliteLedger]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens (and reopens) one ledger store through ``open_ledger``, as the CLI does."""
    opened: list[SqliteLedger] = []

    def opener(target: str) -> Opener:
        def open_() -> SqliteLedger:
            led = open_ledger(target)
            opened.append(led)
            return led

        return open_

    if request.param == "sqlite":
        yield opener(str(tmp_path / "ledger.db"))
    else:
        with pg_schema() as url:
            yield opener(url)
            for led in opened:
                led.close()
            return
    for led in opened:
        led.close()


def _add(led: SqliteLedger, i: int, workflow: str = "camera_only@1") -> Any:
    return led.add_job(
        manifest_hash=f"{i:064x}",
        workflow=workflow,
        manifest_id=f"shot{i:03d}",
        manifest_json=f'{{"id": "shot{i:03d}", "note": "café ✓"}}',
        input_root="/data/in",
    )


# ---------------------------------------------------------------------- contract, both backends
def test_backend_is_chosen_by_the_target(open_store: Opener) -> None:
    led = open_store()
    kind = type(led).__name__
    assert kind in ("SqliteLedger", "PgLedger")
    assert led.schema_version == len(MIGRATIONS)


def test_add_job_is_idempotent_and_round_trips(open_store: Opener) -> None:
    led = open_store()
    job, created = _add(led, 1)
    assert created and job.state is JobState.QUEUED and job.attempts == 0
    assert job.job_id == make_job_id("shot001", f"{1:064x}", "camera_only@1")
    assert job.manifest_json.endswith('"café ✓"}') and job.input_root == "/data/in"
    again, created2 = _add(led, 1)
    assert not created2 and again == job
    other, created3 = _add(led, 1, workflow="svd_xt@1")  # identity = (hash, workflow)
    assert created3 and other.job_id != job.job_id
    assert led.get(job.job_id) == job and led.get("nope") is None
    assert [j.job_id for j in led.jobs()] == [job.job_id, other.job_id]


def test_attempts_are_write_ahead_with_fresh_prompt_ids(open_store: Opener) -> None:
    led = open_store()
    job, _ = _add(led, 2)
    a1 = led.begin_attempt(job.job_id, "gpu0")
    # the file name is the attempt's; the prompt id is new for every submission (ComfyUI's
    # history outlives a ledger, so a derived id could meet an earlier run's entry)
    assert a1.attempt_job_id == attempt_ids(job.job_id, 1)[1] == f"{job.job_id}.a1"
    assert a1.prompt_id != attempt_ids(job.job_id, 1)[0]
    assert [a.prompt_id for a in led.attempts(job_id=job.job_id)] == [a1.prompt_id]
    assert a1.state is AttemptState.SUBMITTING and a1.n == 1
    j = led.get(job.job_id)
    assert j is not None and j.state is JobState.SUBMITTED and j.instance == "gpu0"
    led.set_attempt(a1.prompt_id, AttemptState.ERROR, finished_at=5.0, error_class="oom")
    led.requeue(
        job.job_id, not_before=0.0, error_class="oom", error_message="OOM", avoid_instance="gpu0"
    )
    a2 = led.begin_attempt(job.job_id, "gpu1")
    assert a2.n == 2 and a2.prompt_id != a1.prompt_id
    assert [a.n for a in led.attempts(job_id=job.job_id)] == [1, 2]
    errs = led.attempts(states=[AttemptState.ERROR])
    assert len(errs) == 1 and errs[0].error_class == "oom" and errs[0].finished_at == 5.0
    assert [a.n for a in led.attempts(instance="gpu1")] == [2]
    assert led.attempts(states=[]) == []
    with pytest.raises(KeyError):
        led.begin_attempt("no-such-job", "gpu0")
    with pytest.raises(ValueError, match="unknown attempt fields"):
        led.set_attempt(a2.prompt_id, AttemptState.RUNNING, bogus=1)
    with pytest.raises(ValueError, match="unknown job fields"):
        led.set_job(job.job_id, JobState.RUNNING, bogus=1)


def test_requeue_backoff_order_limit_and_scope(open_store: Opener) -> None:
    led = open_store()
    jobs = [_add(led, i)[0] for i in range(5)]
    now = time.time()
    led.requeue(
        jobs[0].job_id,
        not_before=now + 3600,
        error_class="transport",
        error_message="x",
        avoid_instance="gpu3",
    )
    led.begin_attempt(jobs[1].job_id, "gpu0")
    got = led.next_queued(10, now)
    assert [j.job_id for j in got] == [j.job_id for j in jobs[2:]]
    assert [j.job_id for j in led.next_queued(2, now)] == [j.job_id for j in jobs[2:4]]
    scoped = led.next_queued(10, now, {jobs[4].job_id, jobs[0].job_id})
    assert [j.job_id for j in scoped] == [jobs[4].job_id]
    later = led.next_queued(10, now + 7200)
    assert later[-1].job_id == jobs[0].job_id and later[-1].avoid_instance == "gpu3"
    assert led.next_queued(10, now, set()) == []
    c = led.counts()
    assert c["queued"] == 4 and c["submitted"] == 1 and sum(c.values()) == 5


def test_lost_attempts_do_not_use_the_error_budget_and_retry_resets_it(open_store: Opener) -> None:
    led = open_store()
    job, _ = _add(led, 7)
    for lost in (True, False, False):
        a = led.begin_attempt(job.job_id, "gpu0")
        led.set_attempt(a.prompt_id, AttemptState.LOST if lost else AttemptState.ERROR)
        led.requeue(
            job.job_id,
            not_before=0,
            error_class="lost" if lost else "oom",
            error_message="m",
            avoid_instance=None,
            lost=lost,
        )
    j = led.get(job.job_id)
    assert j is not None and j.attempts == 3 and j.lost == 1 and j.failures == 2
    assert not led.retry(job.job_id)  # queued, not failed: nothing to retry
    led.set_job(job.job_id, JobState.FAILED, error_class="oom", error_message="gave up")
    assert led.retry(job.job_id)
    j = led.get(job.job_id)
    assert j is not None and j.state is JobState.QUEUED and j.failures == 0 and j.attempts == 3
    assert led.begin_attempt(job.job_id, "gpu1").n == 4  # attempt numbers never reused


def test_done_state_outputs_stats_and_reopen(open_store: Opener) -> None:
    led = open_store()
    job, _ = _add(led, 9)
    a = led.begin_attempt(job.job_id, "gpu2")
    led.set_attempt(a.prompt_id, AttemptState.RUNNING, started_at=a.submitted_at + 1)
    led.set_attempt(a.prompt_id, AttemptState.DONE, finished_at=a.submitted_at + 10)
    led.set_job(job.job_id, JobState.DONE, output_path="/out/x.mp4", audit_path="/out/x.json")
    stats = led.instance_stats()
    assert stats["gpu2"]["done"] == 1 and stats["gpu2"]["mean_s"] == pytest.approx(10.0)
    assert [j.job_id for j in led.jobs([JobState.DONE])] == [job.job_id]
    assert led.jobs([]) == []
    led.close()
    again = open_store()  # durable, and migrations are not re-applied
    assert again.schema_version == len(MIGRATIONS)
    j = again.get(job.job_id)
    assert j is not None and j.state is JobState.DONE and j.output_path == "/out/x.mp4"
    assert again.attempts(job_id=job.job_id)[0].state is AttemptState.DONE


def test_two_connections_adding_the_same_jobs_create_each_once(open_store: Opener) -> None:
    a, b = open_store(), open_store()
    created: list[bool] = []
    lock = threading.Lock()

    def add_all(led: SqliteLedger) -> None:
        for i in range(20):
            _, c = _add(led, 100 + i)
            with lock:
                created.append(c)

    ts = [threading.Thread(target=add_all, args=(x,)) for x in (a, b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(created).count(True) == 20 and len(created) == 40
    assert a.counts()["queued"] == 20


# ---------------------------------------------------------------------- PostgreSQL only
@pytest.fixture
def pg() -> Iterator[Callable[[], Any]]:
    from orchestrator.ledger_pg import PgLedger

    opened: list[PgLedger] = []
    with pg_schema() as url:

        def open_() -> PgLedger:
            led = PgLedger(url)
            opened.append(led)
            return led

        yield open_
        for led in opened:
            led.close()


def test_pg_claims_are_disjoint_and_released_on_close(pg: Callable[[], Any]) -> None:
    a, b = pg(), pg()
    ids = [_add(a, i)[0].job_id for i in range(6)]
    now = time.time()
    got_a = [j.job_id for j in a.next_queued(4, now)]
    got_b = [j.job_id for j in b.next_queued(10, now)]
    assert got_a == ids[:4] and got_b == ids[4:]  # b skips a's claims
    assert a.live_sessions() >= {a.owner, b.owner}
    # a's unsubmitted claims are released on its next call (and may be taken again)
    assert [j.job_id for j in a.next_queued(2, now)] == ids[:2]
    assert [j.job_id for j in b.next_queued(10, now)] == ids[2:6]
    a.close()
    assert [j.job_id for j in b.next_queued(10, now)] == ids


def test_pg_begin_attempt_refuses_a_job_held_by_a_live_session(pg: Callable[[], Any]) -> None:
    from orchestrator.ledger_pg import ClaimConflict

    a, b = pg(), pg()
    job, _ = _add(a, 1)
    (claimed,) = a.next_queued(1, time.time())
    with pytest.raises(ClaimConflict, match="alive"):
        b.begin_attempt(claimed.job_id, "gpu1")
    assert a.begin_attempt(job.job_id, "gpu0").n == 1
    assert a.get(job.job_id).attempts == 1


def test_pg_in_flight_work_is_adopted_from_a_dead_session_only(pg: Callable[[], Any]) -> None:
    import psycopg
    from rack_env import pg_url

    a, b = pg(), pg()
    jobs = [_add(a, i)[0] for i in range(3)]
    a.next_queued(3, time.time())
    att = [a.begin_attempt(j.job_id, "gpu0") for j in jobs[:2]]
    # b is alive next to a: a's live attempts and in-flight jobs are not b's to adopt
    assert b.attempts(states=LIVE_ATTEMPTS) == []
    assert b.jobs(IN_FLIGHT) == []
    assert len(b.attempts(states=LIVE_ATTEMPTS, all_sessions=True)) == 2
    assert {j.job_id for j in a.jobs(IN_FLIGHT)} == {jobs[0].job_id, jobs[1].job_id}
    # a's dispatcher dies without closing: its backend goes away, and its lock with it
    with psycopg.connect(pg_url(), autocommit=True) as admin:
        pid = a._conn.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 10
    while a.owner in b.live_sessions():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    c = pg()
    adopted = b.attempts(states=LIVE_ATTEMPTS)
    assert {x.prompt_id for x in adopted} == {x.prompt_id for x in att}
    assert c.attempts(states=LIVE_ATTEMPTS) == []  # b is alive now and holds them
    assert {j.job_id for j in b.jobs(IN_FLIGHT)} == {jobs[0].job_id, jobs[1].job_id}
    # a's queued claim (the third job) is free for anyone
    assert [j.job_id for j in c.next_queued(5, time.time())] == [jobs[2].job_id]


def test_pg_concurrent_claimers_attempt_every_job_exactly_once(pg: Callable[[], Any]) -> None:
    seed = pg()
    ids = {_add(seed, i)[0].job_id for i in range(60)}
    workers = [pg() for _ in range(4)]
    done: dict[str, list[int]] = {}
    lock = threading.Lock()

    def work(led: Any) -> None:
        while True:
            batch = led.next_queued(3, time.time())
            if not batch:
                return
            for job in batch:
                att = led.begin_attempt(job.job_id, f"w{led.owner}")
                led.set_attempt(att.prompt_id, AttemptState.DONE, finished_at=time.time())
                led.set_job(job.job_id, JobState.DONE)
                with lock:
                    done.setdefault(job.job_id, []).append(led.owner)

    ts = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert set(done) == ids and all(len(v) == 1 for v in done.values())
    assert len({v[0] for v in done.values()}) > 1  # the work really was shared
    assert all(a.n == 1 for a in seed.attempts())
    assert seed.counts()["done"] == 60


def test_pg_unreachable_server_is_a_usage_error_without_the_password() -> None:
    from comfy_vidgen.errors import UsageError

    with pytest.raises(UsageError) as e:
        open_ledger("postgresql://vidgen:s3cret@127.0.0.1:1/nodb")
    assert "s3cret" not in str(e.value) and "127.0.0.1:1" in str(e.value)
