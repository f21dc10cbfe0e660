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
2. The job handler reads the message, checks the opt-out, the workflow's quiet hours, the
   destination and the hourly cap, records it ``sending`` in a write of its own (a
   compare-and-set on the attempts it read, so that of two overlapping runs of the job only
   one calls the provider), then calls
   ``provider.send(OutgoingSms(...))`` outside any transaction and ``mark_sent`` with the job's
   completion. A message found ``sending`` by a later attempt (a timeout, a lost answer, a
   dead worker) is first looked up with ``provider.find_sent`` and recorded if found, so
   nothing is sent twice at a provider that keeps duplicates (:mod:`sms.send_job`).
3. Twilio's delivery callbacks then move the status forward by MessageSid. A callback that
   arrives before ``mark_sent`` committed finds no MessageSid and is dropped (answered 204).
"""
