"""Settings from the environment and a TOML file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ringflow.settings import load_settings
from server import main


def test_environment_then_file_then_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "ringflow.toml"
    config.write_text(
        'port = 9000\npublic_url = "https://file.example.com/"\nlog_level = "debug"\n'
    )
    monkeypatch.setenv("RINGFLOW_CONFIG", str(config))
    monkeypatch.setenv("RINGFLOW_PORT", "9100")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "secret-token")
    settings = load_settings(host="0.0.0.0", port=None)  # noqa: S104

    assert settings.port == 9100
    assert settings.host == "0.0.0.0"  # noqa: S104
    assert settings.public_url == "https://file.example.com"
    assert settings.log_level == "DEBUG"
    assert settings.auth_token == "secret-token"
    assert "secret-token" not in repr(settings)
    assert settings.database.startswith("sqlite:///")


def test_a_public_url_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RINGFLOW_PUBLIC_URL", "ivr.example.com")
    with pytest.raises(ValidationError, match="http"):
        load_settings()


def test_bad_settings_are_named_by_their_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RINGFLOW_PORT", "eighty")
    assert main(["calls"]) == 2
    assert "configuration error: RINGFLOW_PORT:" in capsys.readouterr().err


def test_an_aliased_setting_is_named_by_its_own_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RINGFLOW_TWILIO_API_URL", "api.example.com")
    assert main(["calls"]) == 2
    assert "configuration error: RINGFLOW_TWILIO_API_URL:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RINGFLOW_METRICS_LISTEN", "9108"),
        ("RINGFLOW_METRICS_LISTEN", "127.0.0.1:http"),
        ("RINGFLOW_METRICS_LISTEN", "127.0.0.1:70000"),
        ("RINGFLOW_LOG_FORMAT", "xml"),
    ],
)
def test_bad_observability_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["calls"]) == 2
    assert f"configuration error: {variable}:" in capsys.readouterr().err


def test_the_metrics_listener_is_off_and_the_token_hidden_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().metrics_address is None
    monkeypatch.setenv("RINGFLOW_METRICS_LISTEN", "[::1]:9108")
    monkeypatch.setenv("RINGFLOW_METRICS_TOKEN", "metrics-secret")
    settings = load_settings()
    assert settings.metrics_address == ("::1", 9108)
    assert settings.metrics_api_token == "metrics-secret"
    assert "metrics-secret" not in repr(settings)
