"""``ringflow validate``: check workflow files offline, as the server would load them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ringflow.cli.common import Commands, add_command
from ringflow.resources.catalog import check_references
from workflows.loader import from_file
from workflows.problems import WorkflowInvalid
from workflows.schedules import ScheduleBook, load_schedule_folder


def add_to(commands: Commands) -> None:
    """Add ``validate``."""
    validate = add_command(
        commands,
        "validate",
        summary="check workflow files offline (exit 1 listing every problem)",
        description=(
            "Check workflow files without a server or a database: the format\n"
            "(docs/workflow-format.md), every step's settings, and that the schedules a\n"
            "workflow names are in the schedules/ folder beside the file. Every problem is\n"
            "printed as FILE:LINE PATH: MESSAGE; the exit status is 1 if there is any."
        ),
        examples=(
            "  $ ringflow validate flows/*.yaml\n"
            "  flows/main.yaml: ok (main, 4 steps)\n"
            "  flows/sales.yaml:9 steps.menu.menu.options.1: unknown step 'sale'"
        ),
        settings=False,
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="workflow files")
    validate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check each file; exit status 1 when any has a problem."""
    failed = 0
    for name in args.files:
        path = Path(name)
        try:
            workflow = from_file(path)
            # Schedules are looked for where `serve --flows` looks: beside the file.
            schedules = ScheduleBook(load_schedule_folder(path.parent / "schedules"))
            check_references([workflow], schedules)
        except WorkflowInvalid as error:
            failed += 1
            for message in error.messages():
                print(message, file=sys.stderr)
        else:
            print(f"{name}: ok ({workflow.id}, {len(workflow.spec.steps)} steps)")
    return 1 if failed else 0
