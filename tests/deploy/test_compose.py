"""compose.yaml: valid for Docker Compose (``docker compose config``, or the older
``docker-compose``, whichever the machine has), and shaped as docs/deployment.md says: one
migration run before anything else, two servers without a worker, one worker, a proxy in front
sharing requests between the servers, secrets from files."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
RINGFLOW_SERVICES = ("migrate", "app1", "app2", "worker")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def compose_command() -> list[str] | None:
    """``docker compose`` (the plugin) or ``docker-compose``, whichever runs here."""
    if shutil.which("docker"):
        plugin = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, check=False
        )
        if plugin.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_accepts_the_file() -> None:
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    env = {key: value for key, value in os.environ.items() if not key.startswith("RINGFLOW_")}
    checked = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_schema_is_migrated_once_before_any_ringflow_process_starts(
    compose: dict[str, Any],
) -> None:
    found = services(compose)
    migrate = found["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("app1", "app2", "worker"):
        after = found[name]["depends_on"]
        assert after["migrate"]["condition"] == "service_completed_successfully", name
        assert found[name]["environment"]["RINGFLOW_MIGRATE"] == "false", name


def test_two_servers_without_a_worker_and_one_worker(compose: dict[str, Any]) -> None:
    found = services(compose)
    for name in ("app1", "app2"):
        assert found[name]["command"] == ["serve"]
        assert found[name]["environment"]["RINGFLOW_WORKER"] == "false"
    assert found["worker"]["command"] == ["worker"]
    assert found["worker"]["healthcheck"] == {"disable": True}  # no HTTP to check
    images = {found[name]["image"] for name in RINGFLOW_SERVICES}
    assert images == {"ringflow:local"}


def test_every_ringflow_process_reads_the_same_database_and_secrets(
    compose: dict[str, Any],
) -> None:
    found = services(compose)
    for name in RINGFLOW_SERVICES:
        service = found[name]
        assert service["environment"]["RINGFLOW_SECRETS_DIR"] == "/run/secrets"
        targets = {secret["target"] for secret in service["secrets"]}
        assert targets == {"RINGFLOW_DATABASE_URL", "TWILIO_AUTH_TOKEN"}, name
        assert "ringflow-data:/var/lib/ringflow" in service["volumes"]
    assert set(compose["secrets"]) == {"postgres_password", "database_url", "twilio_auth_token"}


def test_the_proxy_shares_requests_between_both_servers_and_is_trusted(
    compose: dict[str, Any],
) -> None:
    found = services(compose)
    proxy = found["proxy"]
    address = proxy["networks"]["ringflow"]["ipv4_address"]
    for name in ("app1", "app2"):
        assert proxy["depends_on"][name]["condition"] == "service_healthy"
        assert found[name]["environment"]["RINGFLOW_TRUSTED_PROXIES"] == address
    mounted = next(v for v in proxy["volumes"] if v.endswith(":/etc/caddy/Caddyfile:ro"))
    caddyfile = (ROOT / mounted.split(":")[0]).read_text(encoding="utf-8")
    upstreams = next(
        line.split()[1:-1] for line in caddyfile.splitlines() if "reverse_proxy" in line
    )
    assert upstreams == ["app1:8080", "app2:8080"]
    assert "health_uri /healthz" in caddyfile
