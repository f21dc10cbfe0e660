"""AMI settings: all or nothing, checked at start; the secret never shows."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ringflow.settings import load_settings


def test_a_host_without_credentials_fails_at_start() -> None:
    with pytest.raises(ValidationError, match="RINGFLOW_AMI_HOST needs RINGFLOW_AMI_USERNAME"):
        load_settings(ami_host="pbx.example.com", ami_username="ringflow")


def test_an_unknown_region_fails_at_start() -> None:
    with pytest.raises(ValidationError, match="RINGFLOW_AMI_DEFAULT_REGION"):
        load_settings(
            ami_host="pbx", ami_username="ringflow", ami_secret="s", ami_default_region="XX"
        )


def test_the_secret_is_not_in_the_settings_repr() -> None:
    settings = load_settings(ami_host="pbx", ami_username="ringflow", ami_secret="hunter2-AMI")
    assert settings.ami_port == 5038
    assert "hunter2-AMI" not in repr(settings)
    assert "hunter2-AMI" not in str(settings)


def test_without_a_host_nothing_is_required() -> None:
    assert load_settings().ami_host is None
