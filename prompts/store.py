"""The local cache of prompt audio: ``<data_dir>/prompts/<digest>.wav`` and ``<digest>.ulaw.wav``.

``digest`` is the sha256 of the 8 kHz PCM WAV, so two prompts with the same audio share their
files, and a file's name never changes meaning: its URL can be cached forever. The audio
itself lives in the database (:mod:`prompts.blobs`); these files are only a cache of it, so
that serving a prompt is a ``sendfile``: the folder may be deleted at any time and is filled
again from the database on the next request. Files arrive through :meth:`PromptStore.place`
(written in ``tmp/`` beside them, then renamed: a reader never sees half a file) and leave
through :meth:`PromptStore.discard`, which the service calls for a digest no prompt uses any
more (see :mod:`prompts.service`). Folders and files are owner-only
(:mod:`ringflow.private_files`).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Final, Literal

from ringflow.private_files import make_private, private_dir

__all__ = ["MediaFormat", "PromptStore"]

MediaFormat = Literal["wav", "ulaw"]
_SUFFIX: Final[dict[str, str]] = {"wav": ".wav", "ulaw": ".ulaw.wav"}
STALE_WORK_S: Final = 3600.0
"""Work files older than this are leftovers of a crash (no conversion runs that long)."""


class PromptStore:
    """The prompts folder of a data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "prompts"
        self.work = self.root / "tmp"
        private_dir(self.work)

    def ready_work(self) -> Path:
        """The work folder, made again if someone deleted the cache; its path."""
        private_dir(self.work)
        return self.work

    def path(self, digest: str, fmt: MediaFormat) -> Path:
        """Where the ``fmt`` file of ``digest`` lives (whether or not it exists)."""
        return self.root / f"{digest}{_SUFFIX[fmt]}"

    def has(self, digest: str) -> bool:
        """Whether both files of ``digest`` are there."""
        return self.path(digest, "wav").is_file() and self.path(digest, "ulaw").is_file()

    def place(self, digest: str, pcm: Path, ulaw: Path) -> None:
        """Move converted files (in :attr:`work`, same file system) to their places, each
        atomically and owner-only (a converter writes with its own umask). The mu-law file
        goes first: once ``<digest>.wav`` exists, both do."""
        make_private(ulaw)
        make_private(pcm)
        os.replace(ulaw, self.path(digest, "ulaw"))
        os.replace(pcm, self.path(digest, "wav"))

    def keep(self, digest: str, fmt: MediaFormat, done: Path) -> Path:
        """Move one finished file (in :attr:`work`) to its place, atomically; its path."""
        make_private(done)
        place = self.path(digest, fmt)
        os.replace(done, place)
        return place

    def discard(self, digest: str) -> None:
        """Remove the files of ``digest`` (call only when no prompt uses it)."""
        for fmt in ("wav", "ulaw"):
            with contextlib.suppress(FileNotFoundError):
                self.path(digest, fmt).unlink()

    def clear_stale_work(self) -> None:
        """Remove what conversions interrupted by a crash left in :attr:`work` (only old
        files: another server process may share the folder)."""
        cutoff = time.time() - STALE_WORK_S
        for leftover in self.work.iterdir():
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
