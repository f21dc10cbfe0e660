"""``set``: assign workflow variables, then go on."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    Field,
    GetJsonSchemaHandler,
    PlainValidator,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from workflows.names import VarName
from workflows.steps.base import (
    CHAT,
    SMS,
    VOICE,
    Next,
    RunContext,
    StepKind,
    StepParams,
    StepResult,
)

Scalar = str | int | float | bool | None


def _scalar(value: Any) -> Scalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError("must be text, a number, true, false or null")


Value = Annotated[
    Any,
    PlainValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]


class SetParams(StepParams):
    """``set: {name: value, ...}``: literal values (strings, numbers, booleans, null)."""

    values: dict[VarName, Value] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, value: Any) -> Any:
        # The definition spells the mapping directly; the model keeps it under one field.
        return {"values": value}

    @model_serializer
    def _as_written(self) -> dict[str, Scalar]:
        return dict(self.values)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        values: JsonSchemaValue = schema["properties"]["values"]
        return {k: v for k, v in values.items() if k != "title"}


class SetKind(StepKind[SetParams]):
    name = "set"
    params = SetParams
    channels = frozenset({VOICE, SMS, CHAT})
    summary = "Set workflow variables (read by `branch` as `vars.NAME`)."

    def enter(self, params: SetParams, ctx: RunContext) -> StepResult:
        ctx.vars.update(params.values)
        return Next()


KIND = SetKind()
