"""Validation problems: where (file, line, path) and what, formatted the same everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Path = tuple[str | int, ...]


def dotted(path: Path) -> str:
    """``("steps", "main", "menu")`` -> ``steps.main.menu``."""
    return ".".join(str(part) for part in path)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a workflow definition."""

    path: Path
    message: str
    line: int | None = None

    def format(self, source: str | None = None) -> str:
        """``main-line.yaml:14 steps.main.menu.options.3: unknown step 'salse'``."""
        where = source or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        location = " ".join(part for part in (where, dotted(self.path)) if part)
        return f"{location}: {self.message}" if location else self.message


class WorkflowInvalid(Exception):
    """A workflow definition has problems; ``problems`` lists every one found."""

    def __init__(self, source: str | None, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__("\n".join(self.messages()))

    def messages(self) -> list[str]:
        """Every problem, formatted with the source name and line."""
        return [problem.format(self.source) for problem in self.problems]
