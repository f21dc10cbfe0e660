"""``data``: a test on one field of the data an external event carried (eq, in, contains,
exists), the same tests as ``contact``: ``when: {data: {attribute: cart_total, exists: true}}``.

Events that carry no data (calls, texts) have none: ``exists: false`` holds, every other
test fails."""

from __future__ import annotations

from typing import ClassVar

from workflows.conditions.base import (
    Check,
    FilterContext,
    FilterKind,
    FilterModel,
    _Compiler,
    _leaf,
    _show,
)
from workflows.conditions.contact import ContactTest, _contact_test
from workflows.problems import Path


class DataFilter(FilterModel):
    kind_name: ClassVar[str] = "data"
    data: ContactTest


def _compile_data(spec: DataFilter, path: Path, compiler: _Compiler) -> Check:
    attribute = spec.data.attribute
    matches = _contact_test(spec.data)

    def check_data(ctx: FilterContext) -> bool:
        return matches(ctx.data.get(attribute))

    return check_data


def _why_not_data(spec: DataFilter, ctx: FilterContext) -> str:
    name = spec.data.attribute
    value = ctx.data.get(name)
    if value is None:
        return f"the event's {name} is not set"
    return f"the event's {name} is {_show(value)}"


KIND = FilterKind(
    "data",
    DataFilter,
    _compile_data,
    _leaf(_compile_data, _why_not_data),
    "a field of an external event's data equals, is one of, contains or exists",
)
