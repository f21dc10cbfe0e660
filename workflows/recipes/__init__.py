"""Recipes: parameterised workflow templates an admin installs with one call (docs/recipes.md).

One YAML file per recipe in this folder: ``recipe:`` (id, title, description, parameters) and
``workflow:`` (a workflow definition without ``id``, with ``{{name}}`` placeholders; see
:mod:`workflows.recipes.render`). A recipe is checked when it is loaded: its keys, its
parameters and their defaults, every placeholder names a declared parameter, every parameter is
used, and the workflow rendered with sample values (each choice of each ``choice`` parameter
too) is a valid workflow. :func:`Recipe.install` renders it with an admin's values.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from workflows.catalog import compile_trigger
from workflows.loader import Workflow, from_data
from workflows.problems import Problem, WorkflowInvalid
from workflows.recipes.render import (
    PARAMETER_NAME,
    PARAMETER_TYPES,
    WORKFLOW_ID_PARAMETER,
    WORKFLOW_ID_SPEC,
    Parameter,
    ParameterError,
    Rendered,
    placeholders,
    render,
    sample_value,
    walk_strings,
)
from workflows.source import Document, parse

RECIPES_FOLDER = FsPath(__file__).resolve().parent
RECIPE_KEYS = {"id", "title", "description", "parameters"}
PARAMETER_KEYS = {"type", "description", "default", "choices", "min", "max"}
_BOUNDED = {"number", "text", "phones", "texts"}

__all__ = [
    "InstallProblem",
    "InstallRefused",
    "Parameter",
    "Recipe",
    "bundled_recipes",
    "load_recipe",
    "load_recipes",
    "sample_definition",
]


@dataclass(frozen=True, slots=True)
class InstallProblem:
    """One reason an install was refused: the field (``parameters.agents``) and why."""

    field: str
    message: str


class InstallRefused(ValueError):
    """The parameters (or the workflow they make) are not valid; ``problems`` says where."""

    def __init__(self, problems: list[InstallProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Recipe:
    """A loaded, checked recipe."""

    id: str
    title: str
    description: str
    parameters: tuple[Parameter, ...]
    workflow: Mapping[str, Any]
    source: str | None = None

    @property
    def event(self) -> str:
        """The event the installed workflow starts on."""
        return str(self.workflow["trigger"]["event"])

    @property
    def all_parameters(self) -> tuple[Parameter, ...]:
        """``workflow_id`` (every install needs it), then the recipe's own."""
        return (WORKFLOW_ID_SPEC, *self.parameters)

    def values(
        self, given: Mapping[str, Any], schedules: Collection[str] | None = None
    ) -> dict[str, Any]:
        """Every parameter's value (defaults filled in); ``InstallRefused`` naming each bad,
        unknown or missing parameter as ``parameters.<name>``."""
        declared = {parameter.name: parameter for parameter in self.all_parameters}
        problems: list[InstallProblem] = []
        for name in given:
            if name not in declared:
                takes = ", ".join(declared)
                problems.append(
                    InstallProblem(
                        f"parameters.{_printable(name)}",
                        f"unknown parameter (recipe {self.id!r} takes: {takes})",
                    )
                )
        values: dict[str, Any] = {}
        names = sorted(schedules) if schedules is not None else None
        for parameter in self.all_parameters:
            if parameter.name not in given:
                if parameter.required:
                    problems.append(InstallProblem(f"parameters.{parameter.name}", "required"))
                else:
                    values[parameter.name] = parameter.default
                continue
            try:
                values[parameter.name] = parameter.check(given[parameter.name], names)
            except ParameterError as error:
                problems.append(InstallProblem(f"parameters.{parameter.name}", str(error)))
        if problems:
            raise InstallRefused(problems)
        return values

    def render(self, values: Mapping[str, Any]) -> Rendered:
        """The workflow definition for ``values`` (every parameter, already checked)."""
        rendered = render(self.workflow, values)
        rendered.data = {"id": values[WORKFLOW_ID_PARAMETER], **rendered.data}
        return rendered

    def install(self, given: Mapping[str, Any], schedules: Collection[str]) -> Workflow:
        """The validated workflow for ``given`` parameters, the schedules it names among
        ``schedules``; ``InstallRefused`` otherwise (a problem of the rendered workflow
        names the parameter that produced the value, else the workflow field)."""
        values = self.values(given, schedules)
        try:
            rendered = self.render(values)
        except ParameterError as error:
            raise InstallRefused([InstallProblem("parameters", str(error))]) from None
        try:
            workflow = from_data(rendered.data, f"recipe {self.id}")
            compile_trigger(workflow, schedules)
        except WorkflowInvalid as invalid:
            raise InstallRefused([_mapped(rendered, p) for p in invalid.problems]) from None
        return workflow


def _printable(name: str) -> str:
    return name.encode("utf-8", "replace").decode("utf-8")[:100]


def _mapped(rendered: Rendered, problem: Problem) -> InstallProblem:
    where = ".".join(str(part) for part in problem.path) or "(file)"
    origin = rendered.origin_of(problem.path)
    if origin is None:
        return InstallProblem(f"workflow.{where}", problem.message)
    return InstallProblem(f"parameters.{origin}", f"{where}: {problem.message}")


# --- loading ---------------------------------------------------------------------------------


class _Problems:
    def __init__(self, document: Document) -> None:
        self.document = document
        self.found: list[Problem] = []

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        self.found.append(Problem(path, message, self.document.line_of(path)))


def load_recipe(text: str, source: str | None = None, expected_id: str | None = None) -> Recipe:
    """Parse and check one recipe file; ``WorkflowInvalid`` listing every problem."""
    document = parse(text, source, fmt="yaml")
    problems = _Problems(document)
    data = document.data
    if not isinstance(data, dict):
        raise WorkflowInvalid(source, [Problem((), "a recipe is a mapping: recipe, workflow")])
    for key in data:
        if key not in ("recipe", "workflow"):
            problems.add((key,), "unknown key")
    head, workflow = data.get("recipe"), data.get("workflow")
    if not isinstance(head, dict):
        problems.add(("recipe",), "required: a mapping with id, title, description, parameters")
        head = {}
    if not isinstance(workflow, dict):
        problems.add(("workflow",), "required: a workflow definition (without id)")
        workflow = {}
    elif "id" in workflow:
        problems.add(("workflow", "id"), "the id comes from the install parameter workflow_id")
    for key in head:
        if key not in RECIPE_KEYS:
            problems.add(("recipe", key), "unknown key")
    recipe_id = head.get("id")
    if not isinstance(recipe_id, str) or not _is_id(recipe_id):
        problems.add(("recipe", "id"), "must be a recipe id: lower-case letters, digits, -, _")
        recipe_id = ""
    elif expected_id is not None and recipe_id != expected_id:
        problems.add(("recipe", "id"), f"must be {expected_id!r}, the file's name")
    texts = {}
    for key, limit in (("title", 200), ("description", 2000)):
        value = head.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            problems.add(("recipe", key), f"required: a text of 1 to {limit} characters")
            value = ""
        texts[key] = value
    parameters = _parameters(head.get("parameters", {}), problems)
    declared = {parameter.name: parameter for parameter in (WORKFLOW_ID_SPEC, *parameters)}
    used: set[str] = set()
    for path, string, _is_key in walk_strings(workflow, ("workflow",)):
        for name in placeholders(string):
            used.add(name)
            if name not in declared:
                problems.add(path, f"unknown placeholder {{{{{name}}}}}: declare it in parameters")
    for parameter in parameters:
        if parameter.name not in used:
            problems.add(("recipe", "parameters", parameter.name), "never used in the workflow")
    if problems.found:
        raise WorkflowInvalid(source, problems.found)
    recipe = Recipe(
        recipe_id, texts["title"], texts["description"], parameters, workflow, source=source
    )
    _try_samples(recipe, problems)
    if problems.found:
        raise WorkflowInvalid(source, problems.found)
    return recipe


def _is_id(value: str) -> bool:
    try:
        WORKFLOW_ID_SPEC.check(value)
    except ParameterError:
        return False
    return True


def _parameters(raw: Any, problems: _Problems) -> tuple[Parameter, ...]:
    where = ("recipe", "parameters")
    if not isinstance(raw, dict):
        problems.add(where, "must be a mapping of parameter names to parameters")
        return ()
    found: list[Parameter] = []
    for name, spec in raw.items():
        path = (*where, name)
        if not PARAMETER_NAME.fullmatch(name) or name == WORKFLOW_ID_PARAMETER:
            problems.add(path, "bad key: a parameter name is a-z, 0-9 and _ (not workflow_id)")
            continue
        if not isinstance(spec, dict):
            problems.add(path, "must be a mapping with type and description")
            continue
        parameter = _parameter(name, spec, path, problems)
        if parameter is not None:
            found.append(parameter)
    return tuple(found)


def _parameter(
    name: str, spec: dict[str, Any], path: tuple[str, ...], problems: _Problems
) -> Parameter | None:
    before = len(problems.found)
    for key in spec:
        if key not in PARAMETER_KEYS:
            problems.add((*path, key), "unknown key")
    kind = spec.get("type")
    if kind not in PARAMETER_TYPES:
        problems.add((*path, "type"), f"must be one of {', '.join(PARAMETER_TYPES)}")
        return None
    description = spec.get("description")
    if not isinstance(description, str) or not description.strip() or len(description) > 500:
        problems.add((*path, "description"), "required: a text of 1 to 500 characters")
    choices = spec.get("choices")
    if kind == "choice":
        if (
            not isinstance(choices, list)
            or not choices
            or not all(isinstance(c, str) and c for c in choices)
        ):
            problems.add((*path, "choices"), "a choice needs a list of texts to choose from")
            choices = []
    elif choices is not None:
        problems.add((*path, "choices"), "only a choice has choices")
    bounds: dict[str, float | None] = {}
    for key in ("min", "max"):
        value = spec.get(key)
        if value is not None and (kind not in _BOUNDED or not _is_number(value)):
            problems.add((*path, key), f"a number, for {', '.join(sorted(_BOUNDED))} only")
            value = None
        bounds[key] = value
    low, high = bounds["min"], bounds["max"]
    if low is not None and high is not None and low > high:
        problems.add((*path, "min"), "is more than max")
    if len(problems.found) > before:
        return None
    parameter = Parameter(
        name=name,
        type=str(kind),
        description=str(description),
        has_default="default" in spec,
        default=spec.get("default"),
        choices=tuple(choices or ()),
        min=low,
        max=high,
    )
    if parameter.has_default and parameter.default is not None:
        try:
            parameter.check(parameter.default)
        except ParameterError as error:
            problems.add((*path, "default"), str(error))
            return None
    return parameter


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def sample_definition(recipe: Recipe) -> Any:
    """The workflow ``recipe`` installs with sample parameter values (defaults where it
    has them): for a picture of it (``ringflow diagram``)."""
    return recipe.render(next(_sample_sets(recipe))).data


def _sample_sets(recipe: Recipe) -> Iterator[dict[str, Any]]:
    base = {parameter.name: sample_value(parameter) for parameter in recipe.parameters}
    base[WORKFLOW_ID_PARAMETER] = recipe.id
    yield base
    nullable = [parameter.name for parameter in recipe.parameters if parameter.nullable]
    if nullable:
        yield {**base, **dict.fromkeys(nullable)}
    for parameter in recipe.parameters:
        for choice in parameter.choices:
            yield {**base, parameter.name: choice}


def _try_samples(recipe: Recipe, problems: _Problems) -> None:
    """Render with sample values (each choice too) and validate what comes out."""
    for values in _sample_sets(recipe):
        schedules = {values[p.name] for p in recipe.parameters if p.type == "schedule"}
        try:
            rendered = recipe.render(values)
            workflow = from_data(rendered.data, recipe.source)
            compile_trigger(workflow, {s for s in schedules if isinstance(s, str)})
        except ParameterError as error:
            problems.add(("workflow",), str(error))
            return
        except WorkflowInvalid as invalid:
            for problem in invalid.problems:
                problems.add(("workflow", *problem.path), problem.message)
            return


def load_recipes(folder: FsPath = RECIPES_FOLDER) -> dict[str, Recipe]:
    """Every ``*.yaml`` recipe in ``folder`` by id, in file-name order."""
    found: dict[str, Recipe] = {}
    for path in sorted(folder.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        recipe = load_recipe(text, str(path.name), expected_id=path.stem)
        found[recipe.id] = recipe
    return found


@functools.cache
def bundled_recipes() -> dict[str, Recipe]:
    """The recipes shipped in this package (loaded once)."""
    return load_recipes()
