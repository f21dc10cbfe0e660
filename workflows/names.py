"""Constrained strings shared by the definition models, with messages people can act on.

Each pattern's message replaces pydantic's "String should match pattern '...'" in validation
problems (see ``workflows/loader.py``); the JSON Schema keeps the pattern itself.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import PlainValidator, StringConstraints, WithJsonSchema

STEP_NAME = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
VAR_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
VAR_PATH = r"^(vars|call|facts|contact|schedule|message)(\.[A-Za-z_][A-Za-z0-9_]{0,63})+$"
E164_NUMBER = r"^\+[1-9][0-9]{6,14}$"
HTTP_URL = r"^https?://\S+$"
PROMPT_ID = r"^pr_[0-9a-f]{16}$"
AUDIO_REF = r"^(https?://\S+|pr_[0-9a-f]{16})$"
LANGUAGE_TAG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
KEYS = r"^[0-9*#]{1,8}$"
ONE_KEY_OR_NONE = r"^[0-9*#]?$"
WORKFLOW_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SCHEDULE_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
UNTIL = r"^(open|([01]?\d|2[0-3]):[0-5]\d)$"

PATTERN_MESSAGES = {
    STEP_NAME: "must be a step name: a letter or _, then letters, digits, _ or - (64 at most)",
    VAR_NAME: "must be a variable name: a letter or _, then letters, digits or _ (64 at most)",
    VAR_PATH: (
        "must name a value such as vars.tier, call.from, facts.agent, contact.tier or schedule.open"
    ),
    E164_NUMBER: "must be a phone number in E.164 form, such as +15550001111",
    HTTP_URL: "must be an http:// or https:// URL",
    AUDIO_REF: (
        "must be an http:// or https:// URL, or the id of a prompt such as pr_0123456789abcdef"
    ),
    LANGUAGE_TAG: "must be a language tag such as en-US or ko-KR",
    KEYS: "must be 1 to 8 phone keys: digits, * or #",
    ONE_KEY_OR_NONE: "must be one phone key (a digit, * or #) or empty",
    UNTIL: "must be a time of day such as 09:00 (00:00 to 23:59), or open",
    WORKFLOW_ID: "must be 1 to 64 lower-case letters, digits, - or _, not starting with - or _",
}

StepName = Annotated[str, StringConstraints(pattern=STEP_NAME)]
VarName = Annotated[str, StringConstraints(pattern=VAR_NAME)]
VarPath = Annotated[str, StringConstraints(pattern=VAR_PATH)]
E164 = Annotated[str, StringConstraints(pattern=E164_NUMBER)]
AudioUrl = Annotated[str, StringConstraints(pattern=AUDIO_REF, max_length=2048)]
"""Audio to play: a URL, or a prompt's id (uploaded or spoken by the server, see prompts/)."""
SpokenText = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Language = Annotated[str, StringConstraints(pattern=LANGUAGE_TAG)]
Voice = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PhoneKeys = Annotated[str, StringConstraints(pattern=KEYS)]
WorkflowId = Annotated[str, StringConstraints(pattern=WORKFLOW_ID)]
ScheduleName = Annotated[str, StringConstraints(pattern=SCHEDULE_NAME)]

_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = 366 * 86400


def parse_duration(value: object) -> int:
    """Seconds from ``90``, ``"90s"``, ``"10m"``, ``"2h"`` or ``"1d"`` (at most a year)."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration such as 30s, 10m, 2h or 1d, not {value!r}")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"must be a duration such as 30s, 10m, 2h or 1d, not {value!r}")
        seconds = int(match[1]) * _UNIT_SECONDS[match[2]]
    if not 0 <= seconds <= MAX_DURATION:
        raise ValueError(f"must be between 0 seconds and 366 days, not {seconds} seconds")
    return seconds


Duration = Annotated[
    int,
    PlainValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_DURATION},
                {"type": "string", "pattern": _DURATION.pattern, "examples": ["10m", "2h"]},
            ],
            "description": "seconds, or a number with s, m, h or d",
        }
    ),
]
