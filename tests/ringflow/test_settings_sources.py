"""Settings from a ``.env`` file and a secrets folder, and the order of every source:
flags > environment > .env > secrets folder > TOML file > defaults. Secrets never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringflow.settings import load_settings
from server import main


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory, with no setting from the outside world."""
    monkeypatch.chdir(tmp_path)
    for name in ("RINGFLOW_PORT", "RINGFLOW_ENV_FILE", "RINGFLOW_SECRETS_DIR", "RINGFLOW_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def every_source(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``RINGFLOW_PORT`` set differently in the environment, .env, secrets and TOML."""
    (folder / ".env").write_text("RINGFLOW_PORT=8002\n")
    secrets = folder / "secrets"
    secrets.mkdir()
    (secrets / "RINGFLOW_PORT").write_text("8003\n")
    (folder / "ringflow.toml").write_text("port = 8004\n")
    monkeypatch.setenv("RINGFLOW_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("RINGFLOW_CONFIG", str(folder / "ringflow.toml"))
    monkeypatch.setenv("RINGFLOW_PORT", "8001")


def test_each_source_wins_over_the_ones_below_it(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    every_source(folder, monkeypatch)
    assert load_settings(port=8000).port == 8000  # a flag
    assert load_settings().port == 8001  # the environment
    monkeypatch.delenv("RINGFLOW_PORT")
    assert load_settings().port == 8002  # .env in the working directory
    (folder / ".env").unlink()
    assert load_settings().port == 8003  # the secrets folder
    (folder / "secrets" / "RINGFLOW_PORT").unlink()
    assert load_settings().port == 8004  # the TOML file
    monkeypatch.delenv("RINGFLOW_CONFIG")
    assert load_settings().port == 8080  # the default


def test_an_env_file_can_be_named_or_turned_off(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / ".env").write_text("RINGFLOW_PORT=8002\n")
    elsewhere = folder / "conf" / "ringflow.env"
    elsewhere.parent.mkdir()
    elsewhere.write_text(
        "# deployment\nRINGFLOW_PORT=9002\nTWILIO_ACCOUNT_SID=AC123\nOTHER_PROGRAM=ignored\n"
    )
    monkeypatch.setenv("RINGFLOW_ENV_FILE", str(elsewhere))
    settings = load_settings()
    assert (settings.port, settings.twilio_account_sid) == (9002, "AC123")
    monkeypatch.setenv("RINGFLOW_ENV_FILE", "")
    assert load_settings().port == 8080


def test_secrets_come_from_files_named_like_their_variables(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = folder / "run-secrets"
    secrets.mkdir()
    (secrets / "TWILIO_AUTH_TOKEN").write_text("twilio-secret-value\n")
    (secrets / "RINGFLOW_ADMIN_TOKEN").write_text("  admin-secret-value  \n")
    monkeypatch.setenv("RINGFLOW_SECRETS_DIR", str(secrets))
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RINGFLOW_ADMIN_TOKEN", raising=False)

    settings = load_settings()

    assert settings.auth_token == "twilio-secret-value"
    assert settings.admin_api_token == "admin-secret-value"
    assert "secret-value" not in repr(settings)
    assert "secret-value" not in str(settings.model_dump())


def test_a_named_file_or_folder_that_is_missing_stops_the_start(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RINGFLOW_ENV_FILE", str(folder / "nope.env"))
    assert main(["calls"]) == 2
    assert "RINGFLOW_ENV_FILE: no such file" in capsys.readouterr().err
    monkeypatch.delenv("RINGFLOW_ENV_FILE")
    monkeypatch.setenv("RINGFLOW_SECRETS_DIR", str(folder / "no-secrets"))
    assert main(["calls"]) == 2
    assert "RINGFLOW_SECRETS_DIR: no such folder" in capsys.readouterr().err


def test_a_bad_value_from_a_secret_file_is_named_but_never_shown(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = folder / "secrets"
    secrets.mkdir()
    (secrets / "RINGFLOW_PUBLIC_URL").write_text("hunter2-not-a-url\n")
    (secrets / "TWILIO_AUTH_TOKEN").write_text("twilio-secret-value\n")
    monkeypatch.setenv("RINGFLOW_SECRETS_DIR", str(secrets))
    monkeypatch.delenv("RINGFLOW_PUBLIC_URL", raising=False)

    assert main(["calls"]) == 2

    captured = capsys.readouterr()
    assert "configuration error: RINGFLOW_PUBLIC_URL: must start with http" in captured.err
    assert "hunter2" not in captured.err + captured.out
    assert "twilio-secret-value" not in captured.err + captured.out
