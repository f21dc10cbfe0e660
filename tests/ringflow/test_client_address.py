"""The client of a request: the peer, or the right-most untrusted X-Forwarded-For entry when
the peer is a trusted proxy."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest

from ringflow.client_address import ClientAddress
from ringflow.settings import load_settings
from server import main

PROXIES = ClientAddress([ip_network("10.0.0.0/8"), ip_network("2001:db8::/32")])


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # The peer is not a proxy we trust: its header means nothing.
        ("203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
        # Behind our proxy: the first address from the right that is not ours.
        ("10.0.0.1", ["198.51.100.1, 203.0.113.7"], "203.0.113.7"),
        ("10.0.0.1", ["198.51.100.1, 203.0.113.7, 10.1.2.3"], "203.0.113.7"),
        ("10.0.0.1", ["198.51.100.1", "203.0.113.7,10.1.2.3"], "203.0.113.7"),
        ("10.0.0.1", [], "10.0.0.1"),
        ("10.0.0.1", ["10.9.9.9, 10.1.2.3"], "10.9.9.9"),  # all ours: the first hop
        ("10.0.0.1", ["203.0.113.7:5123"], "203.0.113.7"),
        ("10.0.0.1", ["[2001:db9::1]:443"], "2001:db9::1"),
        ("2001:db8::5", ["2001:db9::1, 2001:db8::9"], "2001:db9::1"),
        ("::ffff:10.0.0.1", ["203.0.113.7"], "203.0.113.7"),  # dual-stack view of IPv4
        # Junk where a trusted proxy would have written an address: the last good hop.
        ("10.0.0.1", ["203.0.113.7, junk"], "10.0.0.1"),
        ("10.0.0.1", ["junk, 10.1.2.3"], "10.1.2.3"),
        (None, ["203.0.113.7"], "?"),
    ],
)
def test_the_client_is_the_right_most_untrusted_address(
    peer: str | None, forwarded: list[str], client: str
) -> None:
    assert PROXIES.resolve(peer, forwarded) == client


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert ClientAddress().resolve("10.0.0.1", ["203.0.113.7"]) == "10.0.0.1"


def test_trusted_proxies_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RINGFLOW_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16 fd00::/8")
    assert [str(n) for n in load_settings().trusted_proxies] == [
        "10.0.0.1/32",
        "192.168.0.0/16",
        "fd00::/8",
    ]


def test_a_bad_trusted_proxy_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RINGFLOW_TRUSTED_PROXIES", "10.0.0.1, proxy.example.com")
    assert main(["calls"]) == 2
    error = capsys.readouterr().err
    assert "configuration error: RINGFLOW_TRUSTED_PROXIES:" in error
    assert "'proxy.example.com' is not an IP address or network" in error


def test_trusted_proxies_can_be_a_list_in_the_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "ringflow.toml"
    config.write_text('trusted_proxies = ["10.0.0.1", "fd00::/8"]\n')
    monkeypatch.setenv("RINGFLOW_CONFIG", str(config))
    monkeypatch.delenv("RINGFLOW_TRUSTED_PROXIES", raising=False)
    assert [str(n) for n in load_settings().trusted_proxies] == ["10.0.0.1/32", "fd00::/8"]
