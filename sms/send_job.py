"""The send job: queue a text in the caller's transaction, send it from a job worker.

:func:`queue_text` is step 1 of the design in :mod:`sms` (record the message and enqueue its
job, both under the caller's ``key``); :class:`SendSmsHandler` is step 2, the
``JobHandler`` of kind :data:`SEND_SMS`.

**Never twice.** Providers keep duplicates (Twilio creates a message for every request), and
delivery of jobs is at least once, so the handler never sends a text again unless it knows
the earlier call created nothing:

1. Before each call to the provider it records the message ``sending`` (the attempt's number
   and when it started: :func:`~sms.messages.mark_sending`) in a write of its own, committed
   before the request leaves. That write is a compare-and-set on the attempts the handler
   read: two runs of one job can overlap (under load a lease can expire while its handler
   still works, and another worker, or the same one, claims the job again), and the run that
   read the message before the other recorded its attempt sends nothing; it treats that
   attempt as unclear (step 3). A call that cannot leave within :data:`SEND_WINDOW` of being
   recorded (a starved process) is not made at all, so every call is over by ``sending_at``
   + :data:`SEND_WINDOW` + the provider's request timeout, within :data:`SETTLE`.
2. A clear answer settles it: accepted (``sent`` with its provider id, committed with the
   job's completion), refused (``failed``), or a failure that surely created nothing (a 429,
   a connection never opened: back to ``queued`` and retried).
3. Anything unclear (a timeout, a connection lost after the request was written, a 5xx, or a
   worker that died between the call and recording ``sent``, so that the job is claimed again
   and finds the message ``sending``) leaves it ``sending``. The next attempt first waits
   until the earlier call is surely over (``settle`` after it started), then looks the text
   up at the provider (:meth:`~sms.provider.SmsProvider.find_sent`: same recipient, sender and
   body, created since the first attempt minus :data:`LOOKUP_SLACK`, not a provider id another
   message already has) and records what it finds instead of sending again; only when nothing
   is found does it send.

**Checked when the text leaves**, not only when it was queued, right before the provider call:

* the recipient's opt-out (:mod:`sms.optouts`; in the very statement that records
  ``sending``, so a STOP committed before the send wins): the message is ``failed`` with
  :data:`OPTED_OUT_ERROR` (code 21610) and nothing is sent;
* the quiet hours of the workflow the text belongs to (the payload's ``hours``, set for texts
  of automated turns): a text that comes due at night (a retry, a re-leased job, a backlog
  after downtime) is deferred to the end of the quiet hours without spending an attempt;
* the destination (:mod:`sms.destinations`: allowed countries, no premium-rate, shared-cost
  or unknown number types) and the hourly cap on automated texts (counted in the messages
  table, so it holds across processes): a refused text is ``failed`` with the rule in its
  error, and nothing is sent.

*Compliance* texts (the confirmation of a STOP, HELP's answer: ``queue_text(...,
compliance=True)``) reach even an opted-out number and are neither held by quiet hours nor
counted by the cap; they still obey the destination rules.

**Failures**: :class:`~sms.errors.PermanentSmsError` marks the message ``failed`` with the
provider's code and kills the job (21610 also opts the number out, source ``carrier_21610``,
in the same write). :class:`~sms.errors.CredentialsRefused` (401/403: our account SID or
auth token is wrong) is logged at ERROR and pauses sending in this process for
:data:`CREDENTIALS_PAUSE`: the texts are kept ``queued`` and their jobs deferred, without
spending attempts, so they go out once an admin fixes the settings (and restarts). Other
:class:`~sms.errors.SmsError` retries the job with the worker's backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Connection, bindparam, select

from ringflow.clock import Clock
from ringflow.database import Database, stored_time
from sms.db import messages, opt_outs
from sms.destinations import destination_refusal
from sms.errors import (
    OPTED_OUT_CODE,
    CredentialsRefused,
    PermanentSmsError,
    RecipientOptedOut,
    SendOutcomeUnknown,
    SmsError,
)
from sms.messages import (
    FINAL_STATUSES,
    HourlyCap,
    MessageRow,
    Provider,
    mark_failed,
    mark_not_sent,
    mark_sending,
    mark_sent,
    message_from,
    outbound_status,
    record_outbound,
)
from sms.optouts import opt_out
from sms.provider import OutgoingSms, SentSms, SmsProvider
from workflows.jobs import (
    ClaimedJob,
    FinalWrite,
    JobDeferred,
    PermanentJobError,
    TransientJobError,
    enqueue,
    jobs,
)

__all__ = [
    "CREDENTIALS_PAUSE",
    "LOOKUP_SLACK",
    "OPTED_OUT_ERROR",
    "SEND_SMS",
    "SEND_WINDOW",
    "SETTLE",
    "SendRules",
    "SendSmsHandler",
    "Waiting",
    "queue_text",
    "waiting_texts",
]

log = logging.getLogger(__name__)

SEND_SMS: Final = "sms.send"
"""The job kind of a text to send; its payload is ``{"message_id": <messages.id>}``, plus
``"compliance": true`` for a text that goes out even to an opted-out number and ``"hours":
<schedule name>`` for a text whose workflow's quiet hours hold it."""
OPTED_OUT_ERROR: Final = "recipient opted out"
"""The error of a message not sent because its recipient opted out (code 21610)."""
LOOKUP_SLACK: Final = timedelta(minutes=5)
"""How much earlier than our first attempt a provider's ``date_created`` may be and still be
that attempt's message: the provider's clock and ours may disagree a little."""
SEND_WINDOW: Final = timedelta(seconds=3)
"""How long after an attempt was recorded ``sending`` its call may still leave: an attempt
that could not start its call sooner (a process starved of CPU, a database that answered
late) sends nothing, so that every call is over by ``sending_at`` + SEND_WINDOW + the
provider's request timeout, which :data:`SETTLE` waits for."""
SETTLE: Final = timedelta(seconds=15)
"""How long after an unclear attempt started the next one waits before looking it up:
:data:`SEND_WINDOW`, the provider's request timeout (10 s) and a margin, so that the earlier
request is over and whatever it created is visible."""
CREDENTIALS_PAUSE: Final = timedelta(minutes=5)
"""How long a process sends nothing after the provider refused its credentials."""

QuietHours = Callable[[str, datetime], datetime | None]
"""When the quiet hours of the named schedule around a moment end, or None (not quiet)."""


@dataclass(frozen=True, slots=True)
class SendRules:
    """The limits every text obeys when it leaves.

    ``allowed_countries``: the countries texts may go to (None: the country of the number a
    text is sent from); ``hourly_cap``: most automated texts handed over in any hour (None: no
    cap); ``quiet_until``: the quiet hours of a schedule by name (None: none are held).
    """

    allowed_countries: frozenset[str] | None = None
    hourly_cap: int | None = 1000
    quiet_until: QuietHours | None = None


def queue_text(
    conn: Connection,
    *,
    to: str,
    from_: str,
    body: str,
    key: str,
    default_region: str | None = None,
    due_at: datetime | None = None,
    compliance: bool = False,
    hours: str | None = None,
    now: datetime,
) -> int | None:
    """Record a text to send and enqueue its send job, in the caller's transaction.

    ``key`` is both the message's idempotency key and the job's dedupe key: the same key again
    (a re-run event) records and enqueues nothing and returns None; otherwise the new
    message's id. ``to`` is normalised as :func:`sms.messages.record_outbound` does (raising
    :class:`workflows.phones.InvalidPhoneNumber`); ``now`` is when it is recorded (and due,
    unless ``due_at``, aware, delays the send).

    ``compliance`` marks a text that must reach even an opted-out number: only the
    confirmation of a STOP (and HELP's answer). Every other text to an opted-out number is
    never sent. ``hours`` names the schedule whose quiet hours hold the text when it comes due
    (the workflow's, for texts of automated turns); checked again when it is sent.
    """
    message = record_outbound(
        conn,
        to=to,
        from_=from_,
        body=body,
        idempotency_key=key,
        default_region=default_region,
        compliance=compliance,
        now=now,
    )
    payload: dict[str, object] = {"message_id": message.id}
    if compliance:
        payload["compliance"] = True
    if hours is not None:
        payload["hours"] = hours
    job_id = enqueue(conn, SEND_SMS, payload, dedupe_key=key, due_at=due_at, now=now)
    return None if job_id is None else message.id


@dataclass(frozen=True, slots=True)
class Waiting:
    """Why a queued text is not sent yet: when its send job is due, and the reason it was put
    off (the quiet hours holding it, a pause, the last failure before a retry), if any."""

    due_at: datetime
    reason: str | None


def waiting_texts(conn: Connection, keys: Collection[str]) -> dict[str, Waiting]:
    """Of the texts with these idempotency keys, those whose send job waits: by key."""
    if not keys:
        return {}
    query = select(
        jobs.c.dedupe_key, jobs.c.due_at, jobs.c.created_at, jobs.c.last_error, jobs.c.payload
    ).where(jobs.c.dedupe_key.in_(list(keys)), jobs.c.kind == SEND_SMS, jobs.c.status == "queued")
    found = {}
    for row in conn.execute(query):
        due_at = stored_time(row.due_at)
        reason = row.last_error
        hours = row.payload.get("hours") if isinstance(row.payload, dict) else None
        if reason is None and hours is not None and due_at > stored_time(row.created_at):
            # Queued already due later: an automated turn's text in its quiet hours.
            reason = f"quiet hours of {hours!r}"
        found[row.dedupe_key] = Waiting(due_at, reason)
    return found


_OPTED_OUT = select(opt_outs.c.number).where(opt_outs.c.number == messages.c.to_number).exists()
_TO_SEND = select(messages, _OPTED_OUT.label("opted_out")).where(
    messages.c.id == bindparam("message_id")
)


def _message_to_send(conn: Connection, message_id: int) -> tuple[MessageRow, bool] | None:
    """The message, and whether its recipient opted out: one query."""
    row = conn.execute(_TO_SEND, {"message_id": message_id}).first()
    if row is None:
        return None
    values = row._asdict()
    opted_out = bool(values.pop("opted_out"))
    return message_from(values), opted_out


def _known_ids(conn: Connection, provider_ids: Collection[str]) -> set[str]:
    """Which of ``provider_ids`` some message already has."""
    query = select(messages.c.provider_id).where(messages.c.provider_id.in_(provider_ids))
    return {str(value) for value in conn.execute(query).scalars()}


def _message_id(job: ClaimedJob) -> int:
    value = job.payload.get("message_id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise PermanentJobError(f"payload has no integer message_id: {value!r}")
    return value


def _hours(job: ClaimedJob) -> str | None:
    value = job.payload.get("hours")
    return value if isinstance(value, str) and value else None


class SendSmsHandler:
    """Sends the message a :data:`SEND_SMS` job names through ``provider``.

    ``provider_name`` is what the messages table records as its provider; ``status_callback_url``
    the URL the provider posts delivery updates to (None: no callbacks); ``rules`` the limits
    checked when a text leaves; ``settle`` how long after an unclear attempt began the text
    is looked up.
    """

    def __init__(
        self,
        db: Database,
        provider: SmsProvider,
        provider_name: Provider,
        status_callback_url: str | None,
        *,
        clock: Clock,
        rules: SendRules | None = None,
        settle: timedelta = SETTLE,
    ) -> None:
        self._db = db
        self._clock = clock
        self._provider = provider
        self._provider_name: Provider = provider_name
        self._status_callback_url = status_callback_url
        self._rules = rules or SendRules()
        self._settle = settle
        self._paused: tuple[datetime, str] | None = None

    async def __call__(self, job: ClaimedJob) -> FinalWrite | None:
        message_id = _message_id(job)
        compliance = job.payload.get("compliance") is True
        found = await self._db.read(lambda conn: _message_to_send(conn, message_id))
        if found is None:
            raise PermanentJobError(f"message {message_id} does not exist")
        message, opted_out = found
        if message.direction != "outbound":
            raise PermanentJobError(f"message {message_id} is not outbound")
        if message.provider_id is not None:
            log.info("message %d: already sent as %s", message_id, message.provider_id)
            return None
        if message.status in FINAL_STATUSES:
            log.info("message %d: already %s, not sent", message_id, message.status)
            return None
        outgoing = OutgoingSms(
            to=message.to_number,
            from_=message.from_number,
            body=message.body,
            idempotency_key=message.idempotency_key,
            status_callback=self._status_callback_url,
        )
        if message.status == "sending":  # an earlier call may have created it
            earlier = await self._look_up(message, outgoing)
            if earlier is not None:
                return self._sent(message_id, earlier)
        if opted_out and not compliance:
            return self._refused(message_id, OPTED_OUT_CODE, OPTED_OUT_ERROR)
        now = self._clock()
        hours = _hours(job)
        if hours is not None and not compliance and self._rules.quiet_until is not None:
            until = self._rules.quiet_until(hours, now)
            if until is not None:
                raise JobDeferred(until, f"quiet hours of {hours!r}: held until {until}")
        refusal = destination_refusal(
            message.to_number, message.from_number, self._rules.allowed_countries
        )
        if refusal is not None:
            return self._refused(message_id, None, refusal)
        self._check_pause(now)
        cap = None if self._rules.hourly_cap is None else HourlyCap(self._rules.hourly_cap)
        seen = message.send_attempts
        started = await self._db.write(
            lambda conn: mark_sending(
                conn, message_id, attempts_seen=seen, compliance=compliance, cap=cap, now=now
            )
        )
        if started == "not_sendable":
            log.info("message %d: sent or ended meanwhile, not sent", message_id)
            return None
        if started == "raced":
            # Another run of this job (its lease expired while this one was still working)
            # recorded an attempt after this one read the message: it may be in flight.
            settled = now + self._settle
            raise JobDeferred(
                settled,
                f"message {message_id}: another attempt started meanwhile: "
                f"looked up at the provider from {settled}",
            )
        if started == "opted_out":
            return self._refused(message_id, OPTED_OUT_CODE, OPTED_OUT_ERROR)
        if started == "over_cap":
            return self._refused(
                message_id,
                None,
                f"refused: the hourly cap on automated texts is reached "
                f"({self._rules.hourly_cap} an hour, RINGFLOW_SMS_HOURLY_CAP)",
            )
        late = self._clock() - now
        if late > SEND_WINDOW:
            # The lookup of a later attempt trusts that this call left within SEND_WINDOW of
            # ``sending_at``; past it (an overloaded process), it must not leave at all.
            settled = now + self._settle
            raise JobDeferred(
                settled,
                f"message {message_id}: attempt {started} could not leave within "
                f"{SEND_WINDOW.total_seconds():g} s of being recorded ({late.total_seconds():.1f}"
                f" s): not sent; looked up at the provider from {settled}",
            )
        sent = await self._send(message, outgoing, started)
        return self._sent(message_id, sent)

    def _sent(self, message_id: int, sent: SentSms) -> FinalWrite:
        """The write that records ``sent``, committed with the job's completion."""
        # Handed over is "sent" here, whatever the provider calls its queue (Twilio: "queued");
        # only a final first status (a provider that already knows the outcome) is kept.
        status = sent.status if outbound_status(sent.status) in FINAL_STATUSES else "sent"
        provider_id, provider, now = sent.provider_id, self._provider_name, self._clock()
        return lambda conn: mark_sent(conn, message_id, provider, provider_id, status, now=now)

    def _refused(self, message_id: int, code: int | None, reason: str) -> FinalWrite:
        """The write that fails a text not sent because a rule refused it (the job is done:
        there is nothing to retry)."""
        log.info("message %d: not sent: %s", message_id, reason)
        now = self._clock()
        return lambda conn: mark_failed(conn, message_id, code, reason, now=now)

    def _check_pause(self, now: datetime) -> None:
        """Defer the job while sending is paused (the provider refused our credentials)."""
        if self._paused is None:
            return
        until, reason = self._paused
        if now < until:
            raise JobDeferred(until, f"{reason}; sending paused until {until}")
        self._paused = None

    def _pause(self, error: CredentialsRefused) -> JobDeferred:
        """Pause sending after ``error``, loudly; the deferral of the job that met it."""
        now = self._clock()
        if self._paused is not None and now < self._paused[0]:
            until = self._paused[0]  # a send in flight when the pause began: said already
        else:
            until = now + CREDENTIALS_PAUSE
            self._paused = (until, str(error))
            log.error("%s; sending texts paused until %s", error, until.isoformat())
        return JobDeferred(until, f"{error}; sending paused until {until}")

    async def _look_up(self, message: MessageRow, outgoing: OutgoingSms) -> SentSms | None:
        """What an earlier, unclear attempt created at the provider, if anything."""
        now = self._clock()
        last = message.sending_at or message.updated_at
        first = message.first_sending_at or last
        settled = last + self._settle
        if now < settled:
            raise JobDeferred(
                settled,
                f"attempt {message.send_attempts} had no clear outcome: "
                f"looked up at the provider from {settled}",
            )
        self._check_pause(now)
        try:
            candidates = await self._provider.find_sent(outgoing, since=first - LOOKUP_SLACK)
        except CredentialsRefused as error:
            raise self._pause(error) from error
        except SmsError as error:
            raise TransientJobError(
                f"message {message.id}: could not look up its earlier attempt: {error}"
            ) from error
        if candidates:
            ids = [candidate.provider_id for candidate in candidates]
            known = await self._db.read(lambda conn: _known_ids(conn, ids))
            for candidate in candidates:
                if candidate.provider_id not in known:
                    log.info(
                        "message %d: attempt %d had no clear outcome; the provider has it "
                        "as %s: not sent again",
                        message.id,
                        message.send_attempts,
                        candidate.provider_id,
                    )
                    return candidate
        log.info(
            "message %d: attempt %d had no clear outcome and created nothing: sending again",
            message.id,
            message.send_attempts,
        )
        return None

    async def _send(self, message: MessageRow, outgoing: OutgoingSms, attempt: int) -> SentSms:
        try:
            return await self._provider.send(outgoing)
        except SendOutcomeUnknown as error:
            # Left "sending": the next attempt looks the text up before sending it again.
            raise TransientJobError(
                f"message {message.id}: attempt {attempt} has no clear outcome: {error}"
            ) from error
        except CredentialsRefused as error:
            await self._not_sent(message.id)
            raise self._pause(error) from error
        except PermanentSmsError as error:
            code, text = error.code, error.message
            opted_out = isinstance(error, RecipientOptedOut) or code == OPTED_OUT_CODE
            now = self._clock()

            def fail(conn: Connection) -> None:
                mark_failed(conn, message.id, code, text, now=now)
                if opted_out:
                    opt_out(conn, message.to_number, "carrier_21610", now=now)

            await self._db.write(fail)
            raise PermanentJobError(f"message {message.id} refused: {error}") from error
        except SmsError as error:  # TransientSmsError: nothing was created
            await self._not_sent(message.id)
            raise TransientJobError(f"message {message.id} not sent: {error}") from error

    async def _not_sent(self, message_id: int) -> None:
        """Back to ``queued``: the call surely created nothing, so no lookup is needed."""
        now = self._clock()
        await self._db.write(lambda conn: mark_not_sent(conn, message_id, now=now))
