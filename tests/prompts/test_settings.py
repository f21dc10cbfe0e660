"""The prompt limits in the server settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ringflow.settings import load_settings


def test_prompt_limits_default_and_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = load_settings()
    assert defaults.prompt_max_bytes == 10 * 1024 * 1024
    assert (defaults.prompt_min_seconds, defaults.prompt_max_seconds) == (0.3, 600)
    monkeypatch.setenv("RINGFLOW_PROMPT_MAX_BYTES", "2048")
    monkeypatch.setenv("RINGFLOW_PROMPT_MAX_SECONDS", "30")
    configured = load_settings()
    assert (configured.prompt_max_bytes, configured.prompt_max_seconds) == (2048, 30)
    monkeypatch.setenv("RINGFLOW_PROMPT_MAX_BYTES", "0")
    with pytest.raises(ValidationError, match="prompt_max_bytes"):
        load_settings()
