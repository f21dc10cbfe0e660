"""Constrained strings shared by step parameter models."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

StepName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]
VarName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
VarPath = Annotated[
    str, StringConstraints(pattern=r"^(vars|call|facts)(\.[A-Za-z_][A-Za-z0-9_]{0,63})+$")
]
E164 = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
AudioUrl = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)]
SpokenText = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
Voice = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Seconds = Annotated[int, Field(ge=1, le=3600)]
