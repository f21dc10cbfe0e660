"""The job worker: claims due jobs, runs their handlers concurrently, records the outcome.

Delivery is AT LEAST ONCE. A worker killed after a handler's side effect but before the job is
marked done leaves the job ``running``; once its lease expires another worker claims it and
runs it again. Handlers therefore make their side effects idempotent with ``job.dedupe_key``
and may look at ``job.attempts`` (1 on the first claim). A handler that outlives the lease is
cancelled and counts as a transient failure, since another worker may claim the job by then.
The lease is counted from the moment the claim was asked for (that is when its expiry is
computed), not from when the claim's answer arrived: a claim that waited for a busy database
must not leave its handlers running past their leases while other workers claim their jobs
again. Cancelling is only as punctual as the event loop, though: a starved process can still
run a handler a little past its lease, so handlers must also tolerate a run that overlaps
another one (the send job's compare-and-set on ``sending`` does).

Outcomes: a handler that returns completes the job; ``PermanentJobError`` kills it at once
(reason kept in ``last_error``); ``JobDeferred`` queues it again for the moment it names,
without counting the claim as an attempt; any other exception (``TransientJobError`` or anything
unexpected, the latter logged with its traceback) queues it again after the policy's backoff,
until the job's ``max_attempts`` are used up and it is dead. A job whose kind has no handler is
dead at once; so is a job claimed again after its last attempt's worker was lost.

The worker never dies of a handler's exception or a database error: it logs them and carries
on (after ``error_pause`` for the database). ``stop()`` lets in-flight handlers finish.

Given a ``retention``, the worker also deletes finished (done or cancelled) jobs older than
that, by its clock: a small batch between claims every ``sweep_interval``, and batch after
batch while a backlog lasts (see :mod:`workflows.jobs.housekeeping`). Other records that must
not outlive their jobs (webhook deliveries) give it ``purges`` of their own, swept alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Connection

from ringflow.clock import Clock, system_clock
from ringflow.database import Database
from ringflow.logs import log_context
from workflows.jobs import housekeeping, queue
from workflows.jobs.errors import JobDeferred, PermanentJobError, TransientJobError
from workflows.jobs.queue import ClaimedJob
from workflows.jobs.retry import RetryPolicy

log = logging.getLogger(__name__)


class Purge(Protocol):
    """Deletes up to ``limit`` records settled before ``before``; how many it deleted."""

    def __call__(self, conn: Connection, *, before: datetime, limit: int) -> int: ...


Item = TypeVar("Item")


FinalWrite = Callable[[Connection], object]
"""A handler's last database write, committed in the same transaction as the job's
completion (e.g. "the text was accepted as SM..."): one transaction fewer per job, and the
record of the effect and the job's end cannot disagree."""


@dataclass(slots=True)
class _Outcome:
    """An attempt's outcome waiting to be written: ``done`` (with the handler's final write),
    ``dead``, ``deferred`` or ``queued`` (a retry) until ``due_at``; ``recorded`` is set to
    whether the lease still held (None: the write failed)."""

    job: ClaimedJob
    outcome: str
    text: str
    final: FinalWrite | None
    due_at: datetime | None
    recorded: asyncio.Future[bool | None]


@dataclass(frozen=True, slots=True)
class GroupedWrite(Generic[Item]):
    """A final write that the worker may apply together with the other final writes of the
    same ``apply`` in its batch: ``apply(conn, items)`` once for all their items, in one set
    of statements instead of one per job (e.g. ending many snoozes with one ``UPDATE``).
    ``apply`` must treat each item as its own job would (check its condition per item): an
    item alone is ``apply(conn, [item])``, which is what calling it does."""

    apply: Callable[[Connection, list[Item]], object]
    item: Item

    def __call__(self, conn: Connection) -> object:
        return self.apply(conn, [self.item])


class JobObserver(Protocol):
    """Told what the worker does, for monitoring (``ringflow.metrics``); must be cheap and
    must not raise."""

    def claimed(self, kind: str, lag: timedelta) -> None:
        """A job of ``kind`` was claimed ``lag`` after it was due."""
        ...

    def finished(self, kind: str, outcome: str) -> None:
        """A job of ``kind`` ended its attempt: ``done``, ``retry``, ``deferred`` or ``dead``."""
        ...


class JobHandler(Protocol):
    """Does one job's work; raises (see ``workflows.jobs.errors``) to say it failed. May
    return a ``FinalWrite`` to commit with the job's completion."""

    async def __call__(self, job: ClaimedJob) -> FinalWrite | None: ...


def _describe(error: BaseException) -> str:
    try:
        text = str(error)
    except Exception:  # a handler's exception may fail even at that
        text = "(unprintable)"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class JobWorker:
    """Runs due jobs with ``handlers`` (by kind), at most ``concurrency`` at a time."""

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, JobHandler],
        *,
        owner: str,
        policy: RetryPolicy,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 20,
        concurrency: int = 10,
        poll_interval: float = 0.5,
        error_pause: float = 5.0,
        clock: Clock = system_clock,
        rng: random.Random | None = None,
        observer: JobObserver | None = None,
        retention: timedelta | None = None,
        sweep_interval: timedelta = timedelta(minutes=10),
        sweep_batch: int = housekeeping.PURGE_BATCH,
        purges: Sequence[Purge] = (),
        record_batch: int = 100,
        record_lanes: int = 8,
    ) -> None:
        if min(batch, concurrency, record_batch, record_lanes) < 1:
            raise ValueError("batch, concurrency, record_batch and record_lanes must be at least 1")
        if lease <= timedelta(0):
            raise ValueError(f"lease must be positive, got {lease}")
        if retention is not None and retention <= timedelta(0):
            raise ValueError(f"retention must be positive, got {retention}")
        self._db = db
        self._handlers = dict(handlers)
        self._owner = owner
        self._policy = policy
        self._lease = lease
        self._batch = batch
        self._concurrency = concurrency
        self._poll_interval = poll_interval
        self._error_pause = error_pause
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._observer = observer
        self._retention = retention
        self._sweep_interval = sweep_interval
        self._sweep_batch = sweep_batch
        self._purges: tuple[Purge, ...] = (housekeeping.purge_finished, *purges)
        self._next_sweep: datetime | None = None  # None: at the first loop
        self._running: set[asyncio.Task[None]] = set()
        self._record_batch = record_batch
        self._outcomes: list[_Outcome] = []
        self._record_lanes = record_lanes
        self._recorders: set[asyncio.Task[None]] = set()
        self._signal = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()
        self._stopped.set()

    @property
    def owner(self) -> str:
        """The name this worker's leases carry."""
        return self._owner

    def wake(self) -> None:
        """Look for due jobs now (call after enqueueing a job that is due now)."""
        self._signal.set()

    async def stop(self) -> None:
        """Claim nothing more; return once the jobs in flight have finished."""
        self._stopping = True
        self._signal.set()
        await self._stopped.wait()

    async def run_once(self) -> int:
        """Claim one batch (up to ``batch``), run it to the end; how many jobs were claimed.

        Database errors of the claim propagate (this is for tests and tools).
        """
        jobs, deadline = await self._claim(self._batch)
        limit = asyncio.Semaphore(self._concurrency)

        async def bounded(job: ClaimedJob) -> None:
            async with limit:
                await self._run(job, deadline)

        await asyncio.gather(*(bounded(job) for job in jobs))
        await self._recorder_done()
        return len(jobs)

    async def run_until_stopped(self) -> None:
        """Claim and run due jobs until ``stop()``; then let the jobs in flight finish.

        If this task is cancelled instead, the handlers in flight are cancelled too; their
        jobs are claimed again once their leases expire. A stopped worker stays stopped (if
        ``stop()`` came first, this returns at once).
        """
        if self._stopping:
            return
        self._stopped.clear()
        try:
            while not self._stopping:
                self._signal.clear()
                await self._sweep_if_due()
                free = self._concurrency - len(self._running)
                if free <= 0:
                    await self._signal.wait()  # a handler finishing sets it
                    continue
                wanted = min(self._batch, free)
                try:
                    jobs, deadline = await self._claim(wanted)
                except Exception:
                    log.exception("claiming jobs failed; trying again in %ss", self._error_pause)
                    await self._pause(self._error_pause)
                    continue
                for job in jobs:
                    self._start(job, deadline)
                if len(jobs) < wanted:  # nothing more is due: wait for a poll or a wake-up
                    await self._pause(self._poll_interval)
            if self._running:
                await asyncio.wait(set(self._running))
            await self._recorder_done()
        except asyncio.CancelledError:
            for task in self._running:
                task.cancel()
            # Outcomes not committed yet are lost: their jobs run again after the lease.
            for recorder in self._recorders:
                recorder.cancel()
            if self._running or self._recorders:
                await asyncio.wait({*self._recorders, *self._running})
            raise
        finally:
            self._stopped.set()

    async def _recorder_done(self) -> None:
        """Wait for the outcome recorders to end (the jobs they recorded have ended already)."""
        if self._recorders:
            await asyncio.wait(set(self._recorders))

    async def sweep(self) -> int:
        """Delete one batch of finished jobs, and one of each other purge's records, older
        than the retention period; how many records were deleted in all.

        Nothing without a ``retention``. Database errors propagate (for tests and tools).
        """
        return sum(await self._sweep_batches())

    async def _sweep_batches(self) -> list[int]:
        """One batch of each purge, each in its own transaction; what each deleted."""
        if self._retention is None:
            return []
        before = self._clock() - self._retention
        return [
            await self._db.write(partial(purge, before=before, limit=self._sweep_batch))
            for purge in self._purges
        ]

    async def _sweep_if_due(self) -> None:
        """One sweep batch when the interval has passed; a full batch means a backlog, so
        the next loop sweeps again (small batches keep the write lock free for claims)."""
        if self._retention is None:
            return
        now = self._clock()
        if self._next_sweep is not None and now < self._next_sweep:
            return
        try:
            deleted = await self._sweep_batches()
        except Exception:
            log.exception("deleting finished records failed; trying again at the next sweep")
            deleted = []
        if sum(deleted):
            log.info("deleted %d finished records older than %s", sum(deleted), self._retention)
        backlog = any(count >= self._sweep_batch for count in deleted)
        self._next_sweep = now if backlog else now + self._sweep_interval

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._signal.wait()

    async def _claim(self, limit: int) -> tuple[list[ClaimedJob], float]:
        """The jobs claimed, and the event loop's time by which their handlers must end: the
        lease, counted from before ``now`` is read (the claim's lease expires at ``now`` +
        lease), so that it ends no later than the lease the database holds."""
        deadline = asyncio.get_running_loop().time() + self._lease.total_seconds()
        now = self._clock()
        work = partial(queue.claim, owner=self._owner, limit=limit, now=now, lease=self._lease)
        claimed = await self._db.write(work)
        if self._observer is not None:
            for job in claimed:
                self._observer.claimed(job.kind, now - job.due_at)
        return claimed, deadline

    def _start(self, job: ClaimedJob, deadline: float) -> None:
        task = asyncio.create_task(self._run(job, deadline), name=f"job-{job.id}")
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._signal.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("job task %s failed", task.get_name(), exc_info=task.exception())

    async def _run(self, job: ClaimedJob, deadline: float) -> None:
        """Run one job, cancelled at ``deadline`` (the event loop's time) if it is not done by
        then, and record its outcome; never raises (except on cancellation)."""
        payload = job.payload
        with log_context(
            job=job.id,
            job_kind=job.kind,
            call=payload.get("call"),
            run=payload.get("run_id"),
            conversation=payload.get("conversation_id"),
            message_sid=payload.get("sid"),
        ):
            await self._run_job(job, deadline)

    async def _run_job(self, job: ClaimedJob, lease_ends: float) -> None:
        handler = self._handlers.get(job.kind)
        if handler is None:
            await self._record(job, "dead", f"no handler for kind {job.kind}")
            return
        if job.attempts > job.max_attempts:
            reason = f"its worker was lost during attempt {job.max_attempts} of {job.max_attempts}"
            await self._record(job, "dead", reason)
            return
        deadline = asyncio.timeout_at(lease_ends)
        try:
            async with deadline:
                final = await handler(job)
        except PermanentJobError as error:
            log.warning("job %d (%s) failed for good: %s", job.id, job.kind, error)
            await self._record(job, "dead", _describe(error))
            return
        except JobDeferred as deferred:
            log.info("job %d (%s) deferred to %s: %s", job.id, job.kind, deferred.until, deferred)
            await self._record(job, "deferred", str(deferred), due=deferred.until)
            return
        except Exception as error:
            if deadline.expired():
                log.warning("job %d (%s) outlived its lease: cancelled", job.id, job.kind)
            elif isinstance(error, TransientJobError):
                log.warning("job %d (%s) failed, will retry: %s", job.id, job.kind, error)
            else:
                log.exception("job %d (%s) raised; treated as transient", job.id, job.kind)
            await self._failed(job, error)
            return
        await self._record(job, "done", final=final)

    async def _failed(self, job: ClaimedJob, error: Exception) -> None:
        if job.attempts >= job.max_attempts:
            reason = f"failed {job.attempts} times; last error: {_describe(error)}"
            await self._record(job, "dead", reason)
        else:
            await self._record(job, "queued", _describe(error))

    async def _record(
        self,
        job: ClaimedJob,
        outcome: str,
        text: str = "",
        final: FinalWrite | None = None,
        due: datetime | None = None,
    ) -> None:
        """Record the outcome of ``job``'s attempt, batched with the outcomes of the other jobs
        that finish meanwhile (see ``_record_outcomes``); returns once it is committed (or
        could not be)."""
        due_at = due
        if due_at is None and outcome == "queued":
            due_at = self._clock() + self._policy.delay(job.attempts, self._rng)
        recorded: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
        self._outcomes.append(_Outcome(job, outcome, text, final, due_at, recorded))
        if len(self._recorders) < self._record_lanes:
            # A context of its own: the recorder's log lines are not the first job's.
            recorder = asyncio.create_task(
                self._record_outcomes(), name="job-outcomes", context=contextvars.Context()
            )
            self._recorders.add(recorder)
            recorder.add_done_callback(self._recorders.discard)
        await asyncio.shield(recorded)

    async def _record_outcomes(self) -> None:
        """Write the waiting outcomes, up to ``record_batch`` per transaction, until none wait.

        Group commit without a timer: an outcome is written at once while fewer than
        ``record_lanes`` transactions are under way; once that many are, the outcomes of the
        jobs that finish meanwhile wait for the next one to take them all. (Several lanes,
        not one: a batch's final writes run one after the other on its connection, so with a
        single lane timers whose final writes take many round trips would queue behind each
        other however many connections the pool has.) A
        handler's final write is committed with its own job's completion, so a worker lost
        between them leaves neither (the job runs again); one statement marks all the batch's
        done jobs. Should the batch's transaction fail (a final write raised, a deadlock),
        nothing of it stays, and each outcome is written again in a transaction of its own,
        so that one job's failure is not the others'."""
        while self._outcomes:
            batch = self._outcomes[: self._record_batch]
            del self._outcomes[: self._record_batch]
            if len(batch) == 1:
                results = [await self._record_alone(batch[0])]
            else:
                try:
                    ids = await self._db.write(partial(self._apply, batch, self._clock()))
                    results = [item.job.id in ids for item in batch]
                except Exception as error:
                    log.warning(
                        "recording %d job outcomes together failed (%s); recording each alone",
                        len(batch),
                        _describe(error),
                    )
                    results = [await self._record_alone(item) for item in batch]
            for item, result in zip(batch, results, strict=True):
                self._recorded(item, result)

    async def _record_alone(self, item: _Outcome) -> bool | None:
        """``item``'s outcome in a transaction of its own; whether the lease still held, None
        if it could not be written. A final write that raises fails its job (retried with
        backoff, or dead), as its handler raising would have."""
        try:
            return item.job.id in await self._db.write(partial(self._apply, [item], self._clock()))
        except Exception as error:
            job = item.job
            if item.final is None:
                log.exception(
                    "recording job %d as %s failed; it runs again once its lease expires",
                    job.id,
                    item.outcome,
                )
                return None
            failed = _Outcome(job, "queued", _describe(error), None, None, item.recorded)
            if isinstance(error, PermanentJobError) or job.attempts >= job.max_attempts:
                log.warning("job %d (%s): its final write failed for good", job.id, job.kind)
                failed.outcome = "dead"
                if not isinstance(error, PermanentJobError):
                    failed.text = f"failed {job.attempts} times; last error: {failed.text}"
            else:
                log.exception("job %d (%s): its final write failed; will retry", job.id, job.kind)
                failed.due_at = self._clock() + self._policy.delay(job.attempts, self._rng)
            item.outcome = failed.outcome  # what the observer is told
            return await self._record_alone(failed)

    def _apply(self, items: list[_Outcome], now: datetime, conn: Connection) -> set[int]:
        """Write ``items``' outcomes in the caller's transaction: final writes first, then one
        statement for the done jobs and one per reason for the dead ones; the ids whose lease
        still held."""
        owner = self._owner
        recorded: set[int] = set()
        done: list[tuple[int, int]] = []
        dead: dict[str, list[tuple[int, int]]] = {}
        grouped: dict[Callable[[Connection, list[Any]], object], list[Any]] = {}
        for item in items:
            job, claim = item.job, (item.job.id, item.job.attempts)
            if item.outcome == "done":
                if isinstance(item.final, GroupedWrite):
                    grouped.setdefault(item.final.apply, []).append(item.final.item)
                elif item.final is not None:
                    item.final(conn)
                done.append(claim)
            elif item.outcome == "dead":
                dead.setdefault(item.text, []).append(claim)
            else:
                assert item.due_at is not None
                change = queue.defer if item.outcome == "deferred" else queue.retry_later
                if change(conn, job.id, owner, item.text, item.due_at, attempt=claim[1], now=now):
                    recorded.add(job.id)
        for apply, group in grouped.items():
            apply(conn, group)
        recorded |= queue.complete_many(conn, done, owner, now=now)
        for reason, claims in dead.items():
            recorded |= queue.give_up_many(conn, claims, owner, reason, now=now)
        return recorded

    def _recorded(self, item: _Outcome, recorded: bool | None) -> None:
        if not item.recorded.done():
            item.recorded.set_result(recorded)
        if recorded is None:
            return
        job, outcome = item.job, item.outcome
        if recorded and self._observer is not None:
            self._observer.finished(job.kind, "retry" if outcome == "queued" else outcome)
        if not recorded:
            log.warning(
                "job %d: lease lost before it could be recorded as %s (claimed again elsewhere)",
                job.id,
                outcome,
            )
