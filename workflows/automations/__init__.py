"""Workflows that follow conversations: the conversation triggers and the timer triggers.

* :mod:`.raising`: a timeline event that raises a trigger queues one durable
  ``conversation.event`` job, in the transaction that records it (so a crash loses none, and
  its dedupe key makes it one).
* :mod:`.handlers`: that job starts every workflow the trigger calls for (whose ``to`` and
  ``when`` take it: unlike a call or a text, which one workflow answers, a conversation event
  may interest several, e.g. a priority rule and an off-hours notice) through the session
  service, each once, and sets the timers the event starts (one ``conversation.timer`` job
  per workflow with that timer trigger, due ``after`` the event; keyed on the conversation,
  the trigger, the workflow and the event, so it fires at most once per state change). A
  timer checks its condition again when it fires (:mod:`.timers`) and does nothing when it
  no longer holds.
"""
