"""Admin API for recipes (docs/recipes.md): list them, read one, install one as a workflow.

Installing renders the recipe with the admin's parameters and stores the result exactly like
``POST /workflows`` (:mod:`ringflow.admin.workflows`): a draft, published at once with
``"publish": true``.
Bad, unknown or missing parameters are a 422 naming ``parameters.<name>``; a problem of the
rendered workflow (a schedule that does not exist, a text too long for its step) names the
parameter that produced the value. An id taken by a file workflow is a 409; an id of an API
workflow gets a new draft (re-installing is how an installed recipe's parameters change).
"""

from __future__ import annotations

from typing import Any, Literal, cast

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ringflow.admin.endpoints import Api, Body, Endpoint, json_answer, json_body
from ringflow.admin.problems import ApiProblem, FieldError, conflict, not_found
from ringflow.admin.workflows import WORKFLOW_ADMIN, WorkflowAdmin, WorkflowOut
from workflows.recipes import InstallRefused, Parameter, Recipe, bundled_recipes
from workflows.versions import ManagedByFile, save_workflow, state_of

ParameterTypeOut = Literal[
    "text", "number", "phone", "phones", "texts", "boolean", "schedule", "choice"
]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParameterOut(Out):
    name: str
    type: ParameterTypeOut
    description: str
    required: bool = Field(description="true: no default, the install must give it")
    default: Any = Field(default=None, description="the value used when the install omits it")
    choices: list[str] | None = Field(default=None, description="a choice's allowed values")
    min: float | None = Field(
        default=None, description="number: least value; text: least length; lists: least items"
    )
    max: float | None = Field(
        default=None, description="number: greatest value; text: longest; lists: most items"
    )
    pattern: str | None = Field(default=None, description="a regular expression a text matches")

    @classmethod
    def of(cls, parameter: Parameter) -> ParameterOut:
        return cls(
            name=parameter.name,
            type=cast(ParameterTypeOut, parameter.type),
            description=parameter.description,
            required=parameter.required,
            default=parameter.default,
            choices=list(parameter.choices) if parameter.type == "choice" else None,
            min=parameter.min,
            max=parameter.max,
            pattern=parameter.pattern,
        )


class RecipeOut(Out):
    id: str
    title: str
    description: str
    event: str = Field(description="the event the installed workflow starts on")
    parameters: list[ParameterOut] = Field(description="workflow_id first, then the recipe's")

    @classmethod
    def of(cls, recipe: Recipe) -> RecipeOut:
        return cls(
            id=recipe.id,
            title=recipe.title,
            description=recipe.description,
            event=recipe.event,
            parameters=[ParameterOut.of(parameter) for parameter in recipe.all_parameters],
        )


class RecipeDetailOut(RecipeOut):
    workflow: dict[str, Any] = Field(
        description="the workflow template, {{name}} placeholders and all (without id)"
    )


class InstallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="the recipe's parameters by name; workflow_id is always required",
    )
    publish: bool = Field(default=False, description="publish the installed draft at once")


def _admin(request: web.Request) -> WorkflowAdmin:
    return request.config_dict[WORKFLOW_ADMIN]


def _recipe(request: web.Request) -> Recipe:
    recipe_id = request.match_info["recipe_id"]
    recipe = bundled_recipes().get(recipe_id)
    if recipe is None:
        raise not_found(f"recipe {recipe_id!r}")
    return recipe


async def list_recipes(request: web.Request) -> web.Response:
    return json_answer([RecipeOut.of(recipe) for recipe in bundled_recipes().values()])


async def get_recipe(request: web.Request) -> web.Response:
    recipe = _recipe(request)
    return json_answer(
        RecipeDetailOut(**RecipeOut.of(recipe).model_dump(), workflow=dict(recipe.workflow))
    )


async def install_recipe(request: web.Request) -> web.Response:
    recipe = _recipe(request)
    admin = _admin(request)
    body = await json_body(request, InstallIn)
    try:
        workflow = recipe.install(body.parameters, admin.catalog.schedules.names)
    except InstallRefused as refused:
        errors = [FieldError(problem.field, problem.message) for problem in refused.problems]
        names = ", ".join(error.field for error in errors[:3])
        raise ApiProblem(
            422, f"recipe {recipe.id!r} cannot be installed: {names}", errors
        ) from None
    now = admin.clock()

    try:
        await admin.db.write(
            lambda conn: save_workflow(conn, workflow, now, publish_now=body.publish)
        )
    except ManagedByFile as error:
        raise conflict(str(error)) from None
    if body.publish:
        await admin.catalog.refresh()
    state = await admin.db.read(lambda conn: state_of(conn, workflow.id))
    return json_answer(WorkflowOut.of(state), status=201)


def endpoints() -> list[Endpoint]:
    """The recipe endpoints, for :class:`ringflow.admin.endpoints.Api`."""
    tag = "recipes"
    one = "/recipes/{recipe_id}"
    return [
        Endpoint(
            "GET",
            "/recipes",
            list_recipes,
            "List the recipes: ready-made workflows installed with one call",
            tag,
            answer=list[RecipeOut],
        ),
        Endpoint(
            "GET",
            one,
            get_recipe,
            "A recipe: its parameters and its workflow template",
            tag,
            answer=RecipeDetailOut,
            errors=(404,),
        ),
        Endpoint(
            "POST",
            one + "/install",
            install_recipe,
            "Install a recipe as a workflow (a draft, or published with publish: true)",
            tag,
            body=Body(model=InstallIn),
            answer=WorkflowOut,
            status=201,
            errors=(400, 404, 409, 422),
            description=(
                "Renders the recipe with `parameters` and stores it like `POST /workflows`. "
                "Problems name `parameters.<name>`; an id of a file workflow is a 409."
            ),
        ),
    ]


def register(api: Api) -> None:
    """Add the recipe endpoints to ``api``."""
    api.add(*endpoints())
