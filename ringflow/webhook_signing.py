"""Whether the server may start with unsigned webhooks.

Without ``TWILIO_AUTH_TOKEN`` no webhook signature is checked: anyone who can reach the server
can play Twilio, start calls in the log, opt numbers out and make the server text any number.
That is fine for a demo on this machine, not for a server others can reach. So ``ringflow
serve`` refuses to start without the token unless it listens on a loopback address only
(``127.0.0.1``, any ``127.x.y.z``, ``::1`` or ``localhost``) or ``RINGFLOW_INSECURE_WEBHOOKS``
is true (e.g. behind a proxy that checks signatures itself); when it does start unsigned, it
says so in the log as well as in its banner.
"""

from __future__ import annotations

from ipaddress import ip_address

__all__ = ["UnsignedWebhooksRefused", "listens_on_loopback_only", "unsigned_webhooks_warning"]


class UnsignedWebhooksRefused(Exception):
    """The server would accept unsigned webhooks from other machines."""


def listens_on_loopback_only(host: str) -> bool:
    """Whether ``host`` (what the server binds to) is reachable from this machine only.

    Host names other than ``localhost`` count as reachable: what they resolve to can change.
    """
    name = host.strip().strip("[]").lower()
    if name in {"localhost", "localhost."}:
        return True
    try:
        return ip_address(name).is_loopback
    except ValueError:
        return False


def unsigned_webhooks_warning(*, signed: bool, host: str, insecure_allowed: bool) -> str | None:
    """The warning to log when webhooks go unsigned (None when they are signed).

    Raises :class:`UnsignedWebhooksRefused` when they would go unsigned on an address other
    machines reach and ``RINGFLOW_INSECURE_WEBHOOKS`` does not allow it.
    """
    if signed:
        return None
    if not insecure_allowed and not listens_on_loopback_only(host):
        raise UnsignedWebhooksRefused(
            f"TWILIO_AUTH_TOKEN is not set, so webhook signatures would not be checked, and the"
            f" server would listen on {host!r}, which other machines can reach: anyone could"
            f" post fake calls and texts. Set TWILIO_AUTH_TOKEN to your Twilio auth token,"
            f" listen on 127.0.0.1 only (RINGFLOW_HOST / --host), or, if something in front of"
            f" Ringflow checks the signatures, set RINGFLOW_INSECURE_WEBHOOKS=true."
        )
    return (
        f"TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT checked (listening on"
        f" {host}{'' if listens_on_loopback_only(host) else ', RINGFLOW_INSECURE_WEBHOOKS=true'})"
    )
