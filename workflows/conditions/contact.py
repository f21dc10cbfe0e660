"""``contact``: a test on one attribute of the contact (eq, in, contains, exists)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import (
    Field,
    PlainValidator,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from workflows.conditions.base import (
    Check,
    FilterContext,
    FilterKind,
    FilterModel,
    Strict,
    _Compiler,
    _leaf,
    _plain,
    _show,
    _words,
)
from workflows.names import VAR_NAME
from workflows.problems import Path


def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"must be text, a number or true/false, not {value!r}")


Scalar = Annotated[
    str | int | float | bool,
    PlainValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]
AttributeName = Annotated[str, StringConstraints(pattern=VAR_NAME)]


class ContactTest(Strict):
    """A test on one contact attribute: exactly one of eq, in, contains, exists."""

    attribute: AttributeName
    eq: Scalar | None = None
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in", min_length=1)
    contains: Scalar | None = None
    exists: StrictBool | None = None

    @model_validator(mode="after")
    def _one_test(self) -> ContactTest:
        given = self._given()
        if not given:
            raise ValueError("needs one test: eq, in, contains or exists")
        if len(given) > 1:
            raise ValueError(
                f"use only one of eq, in, contains or exists, not {_words(given, 'and')}"
            )
        return self

    def _given(self) -> list[str]:
        return [name for name, key in _CONTACT_FIELDS.items() if getattr(self, key) is not None]


_CONTACT_FIELDS = {"eq": "eq", "in": "in_", "contains": "contains", "exists": "exists"}


class ContactFilter(FilterModel):
    kind_name: ClassVar[str] = "contact"
    contact: ContactTest


def _same(value: object, wanted: object) -> bool:
    if isinstance(value, bool) or isinstance(wanted, bool):
        return isinstance(value, bool) and isinstance(wanted, bool) and value is wanted
    if isinstance(value, str) and isinstance(wanted, str):
        return value.casefold() == wanted.casefold()
    if isinstance(value, int | float) and isinstance(wanted, int | float):
        return value == wanted
    return False


def _contains(value: object, wanted: object) -> bool:
    if isinstance(value, str):
        return isinstance(wanted, str) and wanted.casefold() in value.casefold()
    if isinstance(value, list | tuple | set | frozenset):
        return any(_same(item, wanted) for item in value)
    return False


def _contact_test(test: ContactTest) -> Callable[[object], bool]:
    if test.eq is not None:
        wanted = test.eq
        return lambda value: _same(value, wanted)
    if test.in_ is not None:
        options = test.in_
        return lambda value: any(_same(value, option) for option in options)
    if test.contains is not None:
        part = test.contains
        return lambda value: _contains(value, part)
    present = bool(test.exists)
    return lambda value: (value is not None) is present


def _compile_contact(spec: ContactFilter, path: Path, compiler: _Compiler) -> Check:
    attribute = spec.contact.attribute
    matches = _contact_test(spec.contact)

    def check_contact(ctx: FilterContext) -> bool:
        return matches(ctx.contact.get(attribute))

    return check_contact


def _why_not_contact(spec: ContactFilter, ctx: FilterContext) -> str:
    test = spec.contact
    name = test.attribute
    value = ctx.contact.get(name)
    if test.exists is not None:
        return f"{name} is not set" if test.exists else f"{name} is set ({_show(value)})"
    if value is None:
        return f"{name} is not set"
    if test.eq is not None:
        return f"{name} is {_show(value)}, not {_show(test.eq)}"
    if test.in_ is not None:
        return f"{name} is {_show(value)}, not one of {', '.join(map(_plain, test.in_))}"
    return f"{name} is {_show(value)}, which does not contain {_show(test.contains)}"


KIND = FilterKind(
    "contact",
    ContactFilter,
    _compile_contact,
    _leaf(_compile_contact, _why_not_contact),
    "a contact attribute equals, is one of, contains or exists",
)
