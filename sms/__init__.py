"""SMS channel: provider interface, Twilio and local-outbox providers, the message log and the
delivery status webhook.

* :mod:`sms.provider` - the :class:`~sms.provider.SmsProvider` protocol;
  :mod:`sms.twilio_provider` (Twilio's Messages API) and :mod:`sms.outbox` (prints to the
  admin's terminal) implement it. :mod:`sms.errors` says whether a failure is worth a retry.
* :mod:`sms.db` / :mod:`sms.messages` - the ``messages`` table: ``record_outbound``,
  ``mark_sent``, ``apply_delivery_status`` (statuses only move forward) and the
  ``ringflow messages`` listing.
* :mod:`sms.routes` - ``POST /twilio/sms`` (inbound texts: recorded, STOP/START/HELP handled
  with :mod:`sms.keywords` and :mod:`sms.optouts`) and ``POST /twilio/sms/status`` (signed
  delivery callbacks).
* :mod:`sms.segments` - GSM-7 / UCS-2 segment counting.

How a text is sent (``sms.send_job``: ``queue_text`` and ``SendSmsHandler``):

1. In the transaction of the event that decides on the text (e.g. a call's end), the work
   function calls ``record_outbound(conn, to=..., from_=..., body=..., idempotency_key=key)``
   (status ``queued``) and ``workflows.jobs.queue.enqueue(conn, ...)`` a send job whose
   dedupe key is that same ``key`` and whose payload names the message. Both commit together
   or neither does; a re-run event records and enqueues nothing new.
2. The job handler reads the message, calls ``provider.send(OutgoingSms(..., idempotency_key=
   key, status_callback=<public URL>/twilio/sms/status))`` outside any transaction, then
   ``mark_sent(conn, message_id, provider_name, sent.provider_id, sent.status)`` in one
   write. ``mark_sent`` is idempotent, and the outbox marks the row itself inside ``send``
   (so a retried send prints nothing twice), so a job run again after a crash is harmless.
   Transient errors retry the job; permanent ones should mark the message ``failed``.
3. Twilio's delivery callbacks then move the status forward by MessageSid. A callback that
   arrives before ``mark_sent`` committed finds no MessageSid and is dropped (answered 204).
"""
