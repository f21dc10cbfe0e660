"""What Ringflow creates is readable by its owner only: the data dir, the SQLite database
with its WAL and shared-memory files, prompt audio and uploads, whatever the umask."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from ringflow.private_files import private_dir, private_sqlite_file
from tests.api_client import ApiClient
from tests.prompts.media import tone

RINGFLOW = str(Path(sys.executable).parent / "ringflow")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def lax_umask() -> Iterator[None]:
    """The usual umask (022), which would leave new files readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


async def test_a_server_keeps_its_data_to_its_owner(
    api: ApiClient, tmp_path: Path, database_url: str
) -> None:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(tone(tmp_path, "hi.wav", 1.0).read_bytes()), filename="a.wav")
    assert (await api.call("POST", "/prompts", form=form)).status == 201
    spoken = await api.call(
        "POST", "/prompts/speech", json_body={"text": "Hello.", "language": "en"}
    )
    assert spoken.status == 201

    data = api.server.settings.data_dir
    folders = [data, data / "prompts", data / "prompts" / "tmp", data / "uploads"]
    assert {str(folder): oct(mode(folder)) for folder in folders} == {
        str(folder): "0o700" for folder in folders
    }
    audio = sorted((data / "prompts").glob("*.wav"))
    assert len(audio) == 4  # PCM and mu-law of each prompt
    assert {file.name: oct(mode(file)) for file in audio} == {file.name: "0o600" for file in audio}
    if database_url.startswith("sqlite"):
        database = tmp_path / "ringflow.db"
        files = [database, Path(f"{database}-wal"), Path(f"{database}-shm")]
        assert {f.name: oct(mode(f)) for f in files} == {f.name: "0o600" for f in files}


def test_ringflow_db_upgrade_creates_a_private_database(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RINGFLOW_DATA_DIR": str(tmp_path / "new" / "data"),
    }
    env.pop("RINGFLOW_DATABASE_URL", None)
    done = subprocess.run(
        [RINGFLOW, "db", "upgrade"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert mode(tmp_path / "new") == 0o700
    assert mode(tmp_path / "new" / "data") == 0o700
    assert mode(tmp_path / "new" / "data" / "ringflow.db") == 0o600


def test_existing_folders_and_databases_are_left_as_they_are(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    database = shared / "ringflow.db"
    database.touch(mode=0o640)
    private_dir(shared)
    private_sqlite_file(f"sqlite:///{database}")
    assert (mode(shared), mode(database)) == (0o755, 0o640)


def test_other_databases_create_no_file(tmp_path: Path) -> None:
    private_sqlite_file("postgresql://postgres@127.0.0.1/ringflow")
    private_sqlite_file("sqlite://")
    assert list(tmp_path.iterdir()) == []
