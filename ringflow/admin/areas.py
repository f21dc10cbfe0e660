"""The admin API's areas, in the order its OpenAPI document lists them.

Each area is a module of this package with a ``register(api)`` that adds its endpoints; its
handlers find their state (a small dataclass under the area's ``web.AppKey``) in the app,
put there by :mod:`ringflow.resources.admin`. A new area is one module, one line here and
one line there.
"""

from __future__ import annotations

from collections.abc import Callable

from ringflow.admin import (
    agents,
    callbacks,
    calls,
    contacts,
    conversations,
    events,
    jobs,
    knowledge,
    messages,
    prompts,
    recipes,
    reports,
    schedules,
    teams,
    test_calls,
    test_chats,
    test_texts,
    webhooks,
    workflows,
)
from ringflow.admin.endpoints import Api

AREAS: tuple[Callable[[Api], None], ...] = (
    workflows.register,
    test_calls.register,
    test_chats.register,
    test_texts.register,
    recipes.register,
    contacts.register,
    calls.register,
    messages.register,
    schedules.register,
    prompts.register,
    agents.register,
    teams.register,
    callbacks.register,
    conversations.register,
    reports.register,
    knowledge.register,
    jobs.register,
    events.register,
    webhooks.register,
)


def admin_api() -> Api:
    """Every area's endpoints, to serve as the ``/api`` application."""
    api = Api()
    for register in AREAS:
        register(api)
    return api
