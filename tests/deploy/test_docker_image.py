"""The Docker image, built when Docker is usable here (``docker info`` answers; skipped with
its reason otherwise): ``ringflow --help`` runs in it, as a user other than root, and a
container serves ``/healthz`` and reports itself healthy.

``RINGFLOW_TEST_PYTHON_IMAGE`` names the base image (default the Dockerfile's,
``python:3.11-slim-bookworm``; a machine without a registry passes a local one), and
``RINGFLOW_TEST_PIP_OPTIONS`` pip's options in the build (e.g. ``--no-index --find-links /src``
with wheels put in ``wheelhouse/``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def docker(*args: str, timeout: float = 60, check: bool = True) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def docker_problem() -> str | None:
    """Why Docker cannot be used here, or None."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    info = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if info.returncode != 0:
        lines = (info.stderr or info.stdout).strip().splitlines() or ["no answer"]
        return f"docker info failed: {lines[-1]}"
    return None


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    problem = docker_problem()
    if problem is not None:
        pytest.skip(problem)
    tag = f"ringflow-test:{uuid.uuid4().hex[:12]}"
    args = ["build", "-t", tag]
    if base := os.environ.get("RINGFLOW_TEST_PYTHON_IMAGE"):
        args += ["--build-arg", f"PYTHON_IMAGE={base}"]
    if pip_options := os.environ.get("RINGFLOW_TEST_PIP_OPTIONS"):
        args += ["--build-arg", f"PIP_OPTIONS={pip_options}"]
    docker(*args, str(ROOT), timeout=1800)
    try:
        yield tag
    finally:
        docker("image", "rm", "-f", tag, check=False)


def test_ringflow_runs_in_the_image_as_a_user_other_than_root(image: str) -> None:
    assert "serve" in docker("run", "--rm", image, "--help")
    assert docker("run", "--rm", "--entrypoint", "id", image, "-u").strip() != "0"
    for tool in ("ffmpeg", "ffprobe"):
        docker("run", "--rm", "--entrypoint", tool, image, "-version")


def test_a_container_serves_healthz_and_turns_healthy(image: str) -> None:
    name = f"ringflow-test-{uuid.uuid4().hex[:8]}"
    docker(
        "run", "-d", "--name", name, "-p", "127.0.0.1::8080",
        "-e", "RINGFLOW_INSECURE_WEBHOOKS=true", image,
    )  # fmt: skip
    try:
        port = docker("port", name, "8080/tcp").split(":")[-1].strip()
        deadline = time.monotonic() + 90
        answer: dict[str, str] = {}
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    answer = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.5)
        assert answer.get("status") == "ok", docker("logs", name, check=False)
        while time.monotonic() < deadline:
            health = docker("inspect", "--format", "{{.State.Health.Status}}", name).strip()
            if health == "healthy":
                break
            time.sleep(1)
        assert health == "healthy"
    finally:
        docker("rm", "-f", name, check=False)
