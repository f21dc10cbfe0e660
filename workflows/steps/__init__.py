"""The step registry: every step kind, one module each, listed here and nowhere else."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflows.steps import (
    answer,
    ask,
    assign,
    branch,
    callback,
    close,
    connect,
    dial,
    goto,
    hangup,
    http_request,
    menu,
    note,
    pause,
    play,
    record,
    reply,
    say,
    send_sms,
    set_priority,
    set_vars,
    snooze,
    survey,
    tag,
    untag,
    wait,
)
from workflows.steps.base import StepKind

STEP_KINDS: Mapping[str, StepKind[Any]] = {
    kind.name: kind
    for kind in (
        say.KIND,
        play.KIND,
        pause.KIND,
        menu.KIND,
        dial.KIND,
        record.KIND,
        hangup.KIND,
        goto.KIND,
        branch.KIND,
        set_vars.KIND,
        send_sms.KIND,
        wait.KIND,
        reply.KIND,
        note.KIND,
        assign.KIND,
        set_priority.KIND,
        tag.KIND,
        untag.KIND,
        snooze.KIND,
        close.KIND,
        ask.KIND,
        survey.KIND,
        answer.KIND,
        http_request.KIND,
        callback.KIND,
        connect.KIND,
    )
}

__all__ = ["STEP_KINDS", "StepKind"]
