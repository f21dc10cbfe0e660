"""Outbound webhooks: other systems subscribe to what happens in Ringflow.

A *subscription* (:mod:`workflows.webhooks.subscriptions`) names a URL, the event types it wants
(:data:`EVENT_TYPES`, or ``conversation.*``-style families) and a secret, shown once when it
is made. Where something happens, the code that records it calls :func:`publish` in the same
transaction: one *delivery* row per matching subscription (its id is the ``webhook-id`` every
attempt repeats, its body fixed then) and one durable job. The job (:class:`DeliveryHandler`)
posts the body signed as the Standard Webhooks specification says (``webhook-id``,
``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256>``; see
:mod:`workflows.webhooks.signing`), through the outbound guard (:mod:`ringflow.outbound`: public
addresses only, no redirects); a non-2xx answer, a timeout or a refused connection is retried
with exponential backoff until the attempts run out; 410 Gone disables the subscription.
Settled deliveries are deleted with the finished jobs (:mod:`workflows.webhooks.retention`).
"""

from workflows.webhooks.db import webhook_deliveries, webhook_subscriptions
from workflows.webhooks.deliver import DeliveryHandler
from workflows.webhooks.publish import EVENT_TYPES, FAMILIES, WEBHOOK_DELIVERY_JOB, publish, wanted
from workflows.webhooks.retention import purge_settled
from workflows.webhooks.signing import new_secret, sign

__all__ = [
    "EVENT_TYPES",
    "FAMILIES",
    "WEBHOOK_DELIVERY_JOB",
    "DeliveryHandler",
    "new_secret",
    "publish",
    "purge_settled",
    "sign",
    "wanted",
    "webhook_deliveries",
    "webhook_subscriptions",
]
