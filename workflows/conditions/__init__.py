"""Filters: the ``when`` conditions of a workflow trigger, compiled once into checks.

A filter is a mapping with exactly one *kind* key, as a step is::

    when:
      all:
        - open: office
        - contact: {attribute: tier, in: [VIP, Gold]}
        - not: {contact: {attribute: member, eq: true}}
        - any: [{keywords: [refund, "구독 해지"]}, {channel: sms}]

:func:`parse_filter` validates the data an admin wrote (``FilterInvalid`` lists every problem
with its path); :func:`compile_filter` turns the validated tree into one ``Check``, a closure
over closures, checking once that every schedule it names exists; :func:`explain` says which
sub-filters failed for a context and why (for logs, not the hot path). Every kind is one row
of ``FILTER_KINDS``: its model, its compiler and its failure wording. The language is
documented in ``docs/filters.md``. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Discriminator, Tag, TypeAdapter, ValidationError

from workflows.conditions import (
    clock,
    combinators,
    contact,
    conversation,
    data,
    facts,
    hours,
    keywords,
)
from workflows.conditions.base import (
    ROOT,
    Check,
    FilterContext,
    FilterInvalid,
    FilterKind,
    FilterModel,
    _Compiler,
)
from workflows.conditions.combinators import AllFilter, AnyFilter, NotFilter
from workflows.conditions.errors import _echo, _location, _message
from workflows.conditions.facts import CHANNELS
from workflows.conditions.keywords import keyword_matcher, normalize_text
from workflows.problems import Path, Problem
from workflows.triggers import CALL_OUTCOMES

__all__ = [
    "CALL_OUTCOMES",
    "CHANNELS",
    "FILTER_KINDS",
    "Check",
    "Filter",
    "FilterContext",
    "FilterInvalid",
    "FilterKind",
    "FilterModel",
    "compile_filter",
    "explain",
    "filter_json_schema",
    "keyword_matcher",
    "normalize_text",
    "parse_filter",
]


# --- the registry --------------------------------------------------------------------------

FILTER_KINDS: Mapping[str, FilterKind] = {
    kind.name: kind
    for kind in (
        combinators.ALL,
        combinators.ANY,
        combinators.NOT,
        hours.OPEN,
        hours.CLOSED,
        contact.KIND,
        keywords.KIND,
        facts.CHANNEL,
        facts.CALLED,
        clock.KIND,
        facts.OUTCOME,
        facts.DURATION,
        conversation.KIND,
        data.KIND,
    )
}


def filter_kind_of(value: Any) -> str | None:
    """The tag of a raw filter: its single kind key, or None when it has none or several."""
    if isinstance(value, FilterModel):
        return value.kind_name
    if not isinstance(value, dict):
        return None
    kinds = [key for key in value if key in FILTER_KINDS]
    return kinds[0] if len(kinds) == 1 else None


FILTER_KIND_ERROR = "a filter needs exactly one kind key, one of: " + ", ".join(
    sorted(FILTER_KINDS)
)

if TYPE_CHECKING:
    Filter = FilterModel
else:
    Filter = Annotated[
        Union[tuple(Annotated[k.model, Tag(name)] for name, k in FILTER_KINDS.items())],  # noqa: UP007
        Discriminator(
            filter_kind_of,
            custom_error_type="filter_kind",
            custom_error_message=FILTER_KIND_ERROR,
        ),
    ]

for _model in (AllFilter, AnyFilter, NotFilter):
    _model.model_rebuild(_types_namespace={"Filter": Filter})

_ADAPTER: TypeAdapter[FilterModel] = TypeAdapter(Filter)


# --- public functions ----------------------------------------------------------------------


def parse_filter(data: Any, *, source: str | None = None, path: Path = ROOT) -> FilterModel:
    """Validate the filter ``data``; raise ``FilterInvalid`` listing every problem.

    Problems are placed under ``path`` (``when`` by default): ``when.all.1.contact: ...``.
    """
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as error:
        details = error.errors()
        problems = [
            Problem(_location(detail["loc"], path, FILTER_KINDS), _message(detail))
            for detail in details
            if not _echo(detail, details)
        ]
        raise FilterInvalid(source, problems) from None


def compile_filter(
    spec: FilterModel,
    schedule_names: Collection[str] | None,
    *,
    source: str | None = None,
    path: Path = ROOT,
) -> Check:
    """Compile ``spec`` once into a check; every schedule it names must be in ``schedule_names``
    (None: names are not checked here, they were when the workflow was installed).

    Raises ``FilterInvalid`` listing each unknown schedule with its path
    (``when.all.0.open: unknown schedule 'ofice'``). A schedule missing from a context at run
    time (it was removed since) makes ``open`` and ``closed`` false, never an error.
    """
    names = None if schedule_names is None else frozenset(schedule_names)
    compiler = _Compiler(FILTER_KINDS, names)
    check = compiler.compile(spec, path)
    if compiler.problems:
        raise FilterInvalid(source, compiler.problems)
    return check


def explain(spec: FilterModel, ctx: FilterContext, *, path: Path = ROOT) -> list[str]:
    """Why ``spec`` does not match ``ctx``: ``path: reason`` for each failing sub-filter.

    Empty when the filter matches. For logs and debugging: it walks the tree again.
    """
    return _Compiler(FILTER_KINDS, None).explain(spec, ctx, path)


def filter_json_schema() -> dict[str, Any]:
    """JSON Schema of one filter (the value of ``when``)."""
    return _ADAPTER.json_schema()
