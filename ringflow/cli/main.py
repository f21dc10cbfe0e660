"""The ``ringflow`` command: its parser, made of one module per command group, and the
errors every command turns into a message and exit status 2 (bad settings, bad workflow
files, a database schema or URL that will not do, unsigned webhooks where others reach).

A new command group is a module of this package with an ``add_to(commands)`` that adds its
parsers (:func:`ringflow.cli.common.add_command`), each setting ``run`` to a function of the
parsed arguments that returns the exit status; then one line in ``COMMAND_GROUPS``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from ringflow.cli import (
    call,
    callbacks,
    database,
    diagram,
    hours,
    jobs,
    knowledge,
    logs,
    people,
    remote,
    serve,
    tokens,
    validate,
    webhooks,
    worker,
)
from ringflow.cli.common import SETTINGS_HELP, Commands
from ringflow.database import DatabaseUrlError
from ringflow.migrate import SchemaMismatch
from ringflow.settings import Settings, SettingsSourceMissing
from ringflow.version import version
from ringflow.webhook_signing import UnsignedWebhooksRefused
from workflows.problems import WorkflowInvalid

COMMAND_GROUPS: tuple[Callable[[Commands], None], ...] = (
    serve.add_to,
    worker.add_to,
    validate.add_to,
    diagram.add_to,
    call.add_to,
    logs.add_to,
    hours.add_to,
    tokens.add_to,
    webhooks.add_to,
    people.add_to,
    knowledge.add_to,
    jobs.add_to,
    callbacks.add_to,
    remote.add_to,
    database.add_to,
)
"""In the order ``ringflow --help`` lists them."""

DESCRIPTION = """\
Ringflow answers phone calls and text messages with workflows you write as YAML files:
menus, business hours, voicemail, texts after a call, SMS conversations. It serves
Twilio's webhooks and an admin API, and keeps everything in one database (SQLite on one
machine, PostgreSQL for several)."""

EPILOG = f"""\
examples:
  $ ringflow serve --flows ./flows       # answer calls with your workflows
  $ ringflow validate flows/*.yaml       # check workflow files before serving them
  $ ringflow call                        # try the demo workflow without a phone
  $ ringflow token create alice          # a token for the admin API
  $ ringflow COMMAND --help              # what a command does, its options, examples

{SETTINGS_HELP}
Documentation: README.md and docs/ (workflow format, admin API, schedules, recipes)."""


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    choices = getattr(alias, "choices", None)
    return str(choices[0]) if choices else f"RINGFLOW_{field.upper()}"


ENV_NAMES = {field: _env_name(field) for field in Settings.model_fields}
"""The environment variable of each setting."""


def settings_error(error: ValidationError) -> str:
    """Bad settings, one line each, named by their environment variable."""
    lines = []
    for detail in error.errors():
        field = str(detail["loc"][0]) if detail["loc"] else "?"
        # Pydantic names the field, or the alias it was read by (already a variable name).
        name = ENV_NAMES.get(field) or (field if field.isupper() else f"RINGFLOW_{field.upper()}")
        message = str(detail["msg"]).removeprefix("Value error, ")
        lines.append(f"configuration error: {name}: {message}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """The ``ringflow`` command line."""
    top = argparse.ArgumentParser(
        prog="ringflow",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"ringflow {version()}")
    commands = top.add_subparsers(
        dest="command", required=True, title="commands", metavar="COMMAND"
    )
    for add_to in COMMAND_GROUPS:
        add_to(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` (default: the process's arguments); its exit status."""
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except ValidationError as error:
        print(settings_error(error), file=sys.stderr)
        return 2
    except WorkflowInvalid as error:
        print("\n".join(error.messages()), file=sys.stderr)
        return 2
    except (
        SchemaMismatch,
        DatabaseUrlError,
        UnsignedWebhooksRefused,
        SettingsSourceMissing,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code
