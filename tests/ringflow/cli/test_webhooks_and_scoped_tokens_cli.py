"""``ringflow webhooks ...`` and ``ringflow token create NAME --scope events`` on the
configured database."""

from __future__ import annotations

from pathlib import Path

import pytest

from server import main
from tests.test_server import data_dir

__all__ = ["data_dir"]


def test_subscriptions_are_made_listed_and_deleted(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["webhooks", "list"]) == 0
    assert "no webhook subscriptions" in capsys.readouterr().out
    made = ["webhooks", "create", "https://crm.example/hooks", "--event", "conversation.*"]
    assert main([*made, "--event", "call.ended"]) == 0
    out = capsys.readouterr().out
    assert "subscription 1: https://crm.example/hooks (conversation.*, call.ended)" in out
    assert "whsec_" in out
    assert main(["webhooks", "list"]) == 0
    listed = capsys.readouterr().out
    assert "https://crm.example/hooks" in listed
    assert "whsec_" not in listed  # the secret is shown once
    with pytest.raises(SystemExit, match="not public"):
        main(["webhooks", "create", "http://169.254.169.254/x", "--event", "*"])
    with pytest.raises(SystemExit, match="unknown event type"):
        main(["webhooks", "create", "https://crm.example/x", "--event", "call.rang"])
    assert main(["webhooks", "delete", "1"]) == 0
    assert main(["webhooks", "list"]) == 0
    assert "no webhook subscriptions" in capsys.readouterr().out


def test_a_token_can_be_scoped_to_events(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "shop", "--scope", "events"]) == 0
    assert capsys.readouterr().out.startswith("rf_")
    assert main(["token", "list"]) == 0
    assert "scopes: events" in capsys.readouterr().out
