"""Prompt audio in the database, so that any server process can serve any prompt.

The converted files of a digest (the sha256 of the 8 kHz PCM WAV, see :mod:`prompts.store`)
are stored in ``prompt_audio`` (one row per digest: sizes and hashes) and
``prompt_audio_chunks`` (the bytes of each format, in pieces of at most :data:`CHUNK_BYTES`,
so that neither storing nor serving a long prompt holds it in memory at once). They are
written in the transaction that stores the prompt using them, and deleted in the transaction
that leaves no prompt using them: a prompt row never points at missing audio.

**Sharing a digest across processes.** Two prompts may share a digest, and two processes may
add and remove prompts of one digest at the same moment. Both sides take the ``prompt_audio``
row's lock first (:func:`store_audio` by its upsert, :func:`lock_audio` by ``SELECT ... FOR
UPDATE`` on PostgreSQL; SQLite has one writer) and only then count or write: a removal that
counts no prompt cannot interleave with an addition that is about to use the audio.

These are plain functions of a ``Connection``, run in the caller's transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from prompts.db import prompt_audio, prompt_audio_chunks
from prompts.store import MediaFormat

__all__ = ["CHUNK_BYTES", "StoredAudio", "drop_audio", "lock_audio", "read_chunk", "stored_audio"]

CHUNK_BYTES: Final = 256 * 1024
"""Bytes per stored piece: a 60 s prompt (~1 MB of PCM) is four rows per format."""
FORMATS: Final[tuple[MediaFormat, ...]] = ("wav", "ulaw")


@dataclass(frozen=True, slots=True)
class StoredAudio:
    """What is stored for one digest: each format's size and sha256."""

    digest: str
    wav_bytes: int
    wav_sha256: str
    ulaw_bytes: int
    ulaw_sha256: str

    def size(self, fmt: MediaFormat) -> int:
        """The size in bytes of the ``fmt`` file."""
        return self.wav_bytes if fmt == "wav" else self.ulaw_bytes

    def sha256(self, fmt: MediaFormat) -> str:
        """The sha256 (hex) of the ``fmt`` file."""
        return self.wav_sha256 if fmt == "wav" else self.ulaw_sha256


def _pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while piece := file.read(CHUNK_BYTES):
            yield piece


def _sha256(path: Path) -> str:
    hashed = hashlib.sha256()
    for piece in _pieces(path):
        hashed.update(piece)
    return hashed.hexdigest()


def _claim(conn: Connection, row: dict[str, Any]) -> Any:
    """Insert the digest's row, or lock the one there (an upsert that changes nothing)."""
    insert = (sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert)(prompt_audio)
    statement = insert.values(row)
    return statement.on_conflict_do_update(
        index_elements=["digest"], set_={"digest": statement.excluded.digest}
    )


def store_audio(conn: Connection, digest: str, pcm: Path, ulaw: Path, now: datetime) -> None:
    """Store the files of ``digest`` (the PCM WAV and the mu-law WAV at these paths) unless
    they are stored already."""
    row = {
        "digest": digest,
        "wav_bytes": pcm.stat().st_size,
        "wav_sha256": _sha256(pcm),
        "ulaw_bytes": ulaw.stat().st_size,
        "ulaw_sha256": _sha256(ulaw),
        "created_at": now,
    }
    if row["wav_sha256"] != digest:
        raise ValueError(f"the PCM file's sha256 is not its digest {digest}")
    conn.execute(_claim(conn, row))
    chunks = prompt_audio_chunks.c
    stored = conn.execute(select(chunks.seq).where(chunks.digest == digest).limit(1)).first()
    if stored is not None:
        return  # the same bytes, stored by an earlier prompt
    for fmt, path in (("wav", pcm), ("ulaw", ulaw)):
        for seq, piece in enumerate(_pieces(path)):
            conn.execute(
                prompt_audio_chunks.insert().values(digest=digest, format=fmt, seq=seq, data=piece)
            )


def stored_audio(conn: Connection, digest: str) -> StoredAudio | None:
    """What is stored for ``digest``, or None."""
    table = prompt_audio.c
    row = conn.execute(
        select(
            table.digest, table.wav_bytes, table.wav_sha256, table.ulaw_bytes, table.ulaw_sha256
        ).where(table.digest == digest)
    ).first()
    return None if row is None else StoredAudio(*row)


def lock_audio(conn: Connection, digest: str) -> None:
    """Hold the digest's row until the transaction ends (PostgreSQL; SQLite has one writer)."""
    conn.execute(
        select(prompt_audio.c.digest).where(prompt_audio.c.digest == digest).with_for_update()
    )


def drop_audio(conn: Connection, digest: str) -> None:
    """Delete the stored files of ``digest`` (call with its row locked, when no prompt uses it)."""
    conn.execute(delete(prompt_audio_chunks).where(prompt_audio_chunks.c.digest == digest))
    conn.execute(delete(prompt_audio).where(prompt_audio.c.digest == digest))


def read_chunk(conn: Connection, digest: str, fmt: MediaFormat, seq: int) -> bytes | None:
    """Piece ``seq`` (from 0) of the ``fmt`` file of ``digest``; None past the end or when the
    audio is gone."""
    chunks = prompt_audio_chunks.c
    data = conn.execute(
        select(chunks.data).where(chunks.digest == digest, chunks.format == fmt, chunks.seq == seq)
    ).scalar_one_or_none()
    return None if data is None else bytes(data)
