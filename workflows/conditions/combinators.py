"""``all``, ``any`` and ``not``: filters made of other filters."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from workflows.conditions.base import Check, FilterContext, FilterKind, FilterModel, _Compiler
from workflows.problems import Path, dotted

# At run time ``Filter`` is the tagged union of every kind, built in ``__init__`` from the
# registry, which then rebuilds these models with it.
if TYPE_CHECKING:
    Filter = FilterModel


class AllFilter(FilterModel):
    kind_name: ClassVar[str] = "all"
    all: tuple[Filter, ...] = Field(min_length=1, description="every filter matches")


class AnyFilter(FilterModel):
    kind_name: ClassVar[str] = "any"
    any: tuple[Filter, ...] = Field(min_length=1, description="at least one filter matches")


class NotFilter(FilterModel):
    kind_name: ClassVar[str] = "not"
    not_: Filter = Field(alias="not", description="the filter does not match")


def _compile_all(spec: AllFilter, path: Path, compiler: _Compiler) -> Check:
    checks = tuple(compiler.compile(child, (*path, i)) for i, child in enumerate(spec.all))

    def check_all(ctx: FilterContext) -> bool:
        return all(check(ctx) for check in checks)

    return check_all


def _explain_all(spec: AllFilter, ctx: FilterContext, path: Path, compiler: _Compiler) -> list[str]:
    return [
        line
        for i, child in enumerate(spec.all)
        for line in compiler.explain(child, ctx, (*path, i))
    ]


def _compile_any(spec: AnyFilter, path: Path, compiler: _Compiler) -> Check:
    checks = tuple(compiler.compile(child, (*path, i)) for i, child in enumerate(spec.any))

    def check_any(ctx: FilterContext) -> bool:
        return any(check(ctx) for check in checks)

    return check_any


def _explain_any(spec: AnyFilter, ctx: FilterContext, path: Path, compiler: _Compiler) -> list[str]:
    lines = [[*compiler.explain(child, ctx, (*path, i))] for i, child in enumerate(spec.any)]
    return [] if any(not child for child in lines) else [line for child in lines for line in child]


def _compile_not(spec: NotFilter, path: Path, compiler: _Compiler) -> Check:
    inner = compiler.compile(spec.not_, path)

    def check_not(ctx: FilterContext) -> bool:
        return not inner(ctx)

    return check_not


def _explain_not(spec: NotFilter, ctx: FilterContext, path: Path, compiler: _Compiler) -> list[str]:
    if compiler.explain(spec.not_, ctx, path):
        return []
    return [f"{dotted(path)}: the filter inside matched"]


ALL = FilterKind("all", AllFilter, _compile_all, _explain_all, "every filter in the list")
ANY = FilterKind("any", AnyFilter, _compile_any, _explain_any, "at least one in the list")
NOT = FilterKind("not", NotFilter, _compile_not, _explain_not, "the filter does not match")
