"""What the Dockerfile promises, checked without Docker (test_docker_image.py builds it where
Docker runs): every package pyproject.toml installs reaches the build, the install is pinned
by constraints.txt, the server runs unprivileged with ffmpeg and espeak-ng, a health check and
a data volume."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
DOCKERIGNORE = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()


def installed_packages() -> set[str]:
    """The top-level packages and modules pyproject.toml installs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = project["tool"]["setuptools"]
    packages = {name.rstrip("*") for name in setuptools["packages"]["find"]["include"]}
    modules = {f"{name}.py" for name in setuptools["py-modules"]}
    return packages | modules


def copied() -> set[str]:
    sources: set[str] = set()
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            sources.update(line.split()[1:-1])
    return sources


def test_every_installed_package_reaches_the_build() -> None:
    wanted = installed_packages()
    assert wanted <= copied()
    let_through = {line.removeprefix("!").rstrip("/") for line in DOCKERIGNORE if line[:1] == "!"}
    assert wanted <= let_through
    assert {"pyproject.toml", "constraints.txt", "README.md"} <= copied() & let_through


def test_the_install_is_pinned_and_the_server_runs_unprivileged() -> None:
    assert re.search(r"pip install .*-c constraints\.txt \.", DOCKERFILE.replace("\\\n", " "))
    assert "ffmpeg libespeak-ng1" in DOCKERFILE
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users == ["ringflow"]
    assert re.search(r"^HEALTHCHECK .*?/healthz", DOCKERFILE, re.MULTILINE | re.DOTALL)
    assert 'VOLUME ["/var/lib/ringflow"]' in DOCKERFILE
    assert 'ENTRYPOINT ["ringflow"]' in DOCKERFILE
