"""Fixtures of the prompt tests: a PromptService on each test database, a tone "speech engine"."""

from __future__ import annotations

from pathlib import Path

import pytest

from prompts.service import PromptService
from ringflow.database import Database
from tests.clock import FrozenClock
from tests.prompts.fakes import ToneSynthesizer

CLOCK = FrozenClock()


@pytest.fixture
def synthesizer() -> ToneSynthesizer:
    return ToneSynthesizer()


@pytest.fixture
def service(migrated_db: Database, tmp_path: Path, synthesizer: ToneSynthesizer) -> PromptService:
    """Prompts on the migrated test database, files under ``tmp_path / "data"``."""
    return PromptService(
        migrated_db,
        tmp_path / "data",
        synthesizer,
        max_bytes=10 * 1024 * 1024,
        min_seconds=0.3,
        max_seconds=60,
        clock=CLOCK,
    )
