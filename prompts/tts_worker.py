"""One text-to-speech worker process: owns the process's only pyttsx3 (espeak-ng) engine.

Started by :class:`prompts.tts.TtsPool` as ``python prompts/tts_worker.py`` (by file path, so
it does not depend on how ``prompts`` was installed; ``python -m prompts.tts_worker`` works
too). It speaks JSON lines: one request a line on stdin, one answer a line on the protocol
stream, one job at a time.

* First line out: ``{"ready": true, "pid": ..., "voices": [{"id", "name", "languages"}]}``.
* Request ``{"id": n, "op": "synth", "text", "voice", "rate", "path"}`` -> the WAV (16-bit mono
  22050 Hz, as the engine writes it) at ``path``, answer ``{"id": n, "ok": true, "bytes": b}``;
  or ``{"id": n, "ok": false, "error": "...", "fatal": bool}`` (after a fatal error the
  worker exits: pyttsx3's run loop may be stuck in a half-started state, and a new process is
  cheaper than finding out).
* Only with ``--test-hooks`` on the command line: ``{"op": "hang"}`` (never answers) and
  ``{"op": "crash"}`` (exits at once with status 3). Without the flag they are refused.

The protocol stream is a private duplicate of the original stdout; file descriptor 1 and
``sys.stdout`` are pointed at /dev/null before pyttsx3 is imported, so its
``print("Audio saved to ...")`` (and anything a C library writes to fd 1) cannot corrupt the
protocol. stderr is left alone for real errors.

pyttsx3 facts this relies on (see /work/shared/LIBRARY-NOTES.md): ``runAndWait()`` can return
before the file exists, so the job waits for the ``finished-utterance`` notification; it never
calls ``runAndWait()`` without a ``save_to_file()`` first (that hangs or repeats the previous
text); one ``save_to_file()`` per ``runAndWait()``; voice and rate are set on every job because
the engine keeps them between jobs, then the job waits for espeak-ng to be idle (see
``Speaker.wait_until_idle``: pyttsx3 otherwise cancels a pending rate change); the voice id
is validated here as well as in the pool, because the engine silently ignores unknown ones.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

DEFAULT_RATE = 175
WARM_UP_TEXT = "Ready."
# A hard stop inside the worker too, in case the pool's own timeout is generous.
WORKER_JOB_LIMIT_S = 300.0
IDLE_WAIT_S = 2.0


_protocol: IO[bytes] | None = None


def take_stdout() -> IO[bytes]:
    """A private duplicate of fd 1 for the protocol; fd 1 and ``sys.stdout`` -> /dev/null."""
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process's life
    return protocol


def send(message: dict[str, Any]) -> None:
    assert _protocol is not None
    _protocol.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")


class Speaker:
    """The engine and the one-job-at-a-time state around it."""

    def __init__(self) -> None:
        import pyttsx3  # here, once stdout is redirected

        self.engine: Any = pyttsx3.init("espeak")
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self.engine.connect("finished-utterance", self._on_finished)
        self.engine.connect("error", self._on_error)
        self.voices: list[dict[str, Any]] = [
            {"id": v.id, "name": v.name, "languages": list(v.languages or [])}
            for v in self.engine.getProperty("voices")
        ]
        self.voice_ids = {v["id"] for v in self.voices}

    def warm_up(self, folder: Path) -> None:
        """One throw-away job: loads the default voice and leaves pyttsx3's queue idle.

        Before its first run loop pyttsx3 queues property changes and runs them together
        with ``runAndWait()``'s own stop; after it, they apply at once, which the idle wait
        in :meth:`synthesize` relies on.
        """
        path = folder / f"tts-warm-up-{os.getpid()}.wav"
        try:
            self.synthesize(WARM_UP_TEXT, self.default_voice(), DEFAULT_RATE, path, limit=10.0)
        finally:
            path.unlink(missing_ok=True)
        driver = getattr(getattr(self.engine, "proxy", None), "_driver", None)
        if driver is not None and hasattr(driver, "_stopping"):
            driver._stopping = False

    def default_voice(self) -> str:
        for wanted in ("gmw/en-us", "gmw/en"):
            if wanted in self.voice_ids:
                return wanted
        return str(self.voices[0]["id"])

    @staticmethod
    def wait_until_idle() -> None:
        """Wait for espeak-ng's own queue to drain (property changes are queued there).

        Measured here: with a property change still pending, ``runAndWait()``'s internal
        ``stop()`` sees espeak "playing" and cancels it (the new rate was lost in 149 of 200
        jobs) and a stray ``finished-utterance(completed=False)`` follows.
        """
        from pyttsx3.drivers import _espeak

        deadline = time.monotonic() + IDLE_WAIT_S
        while _espeak.IsPlaying() and time.monotonic() < deadline:
            time.sleep(0.0005)

    def _on_finished(self, name: str | None = None, completed: bool = True) -> None:
        # Only the real end of the utterance counts: it comes from the synthesis callback
        # after the WAV file is written. pyttsx3 also sends a spurious completed=False from
        # its run loop when its stop() raced espeak-ng; that one is ignored.
        if completed:
            self.finished.set()

    def _on_error(self, name: str | None = None, exception: BaseException | None = None) -> None:
        self.error = exception or RuntimeError("the engine reported an error")
        self.finished.set()

    def synthesize(
        self, text: str, voice: str, rate: int, path: Path, limit: float = WORKER_JOB_LIMIT_S
    ) -> int:
        if voice not in self.voice_ids:
            raise ValueError(f"unknown voice {voice!r}")
        if not text.strip():
            raise ValueError("empty text")
        self.finished.clear()
        self.error = None
        with path.open("wb"):  # fail here, not inside the engine's callback thread
            pass
        path.unlink()
        self.engine.setProperty("voice", voice)
        self.engine.setProperty("rate", rate)
        self.wait_until_idle()
        self.engine.save_to_file(text, str(path))
        self.engine.runAndWait()
        if not self.finished.wait(limit):
            raise RuntimeError("the engine never reported the end of the utterance")  # fatal
        if self.error is not None:
            raise RuntimeError(str(self.error))
        size = path.stat().st_size
        if size <= 44:
            raise RuntimeError("the engine wrote no audio")
        return size


def serve(test_hooks: bool) -> int:
    speaker = Speaker()
    speaker.warm_up(Path(tempfile.gettempdir()))
    send({"ready": True, "pid": os.getpid(), "voices": speaker.voices})
    for raw in sys.stdin.buffer:
        try:
            request = json.loads(raw)
            job_id = request.get("id")
            op = request["op"]
        except (ValueError, KeyError, AttributeError) as exc:
            send({"id": None, "ok": False, "error": f"bad request: {exc}", "fatal": False})
            continue
        if op == "synth":
            try:
                size = speaker.synthesize(
                    str(request["text"]),
                    str(request["voice"]),
                    int(request["rate"]),
                    Path(request["path"]),
                )
            except (ValueError, KeyError, OSError) as exc:
                send({"id": job_id, "ok": False, "error": str(exc), "fatal": False})
            except Exception as exc:  # the engine itself: report, then let the pool restart us
                send({"id": job_id, "ok": False, "error": f"engine: {exc}", "fatal": True})
                return 1
            else:
                send({"id": job_id, "ok": True, "bytes": size})
        elif test_hooks and op == "hang":
            while True:
                time.sleep(3600)
        elif test_hooks and op == "crash":
            os._exit(3)
        else:
            send({"id": job_id, "ok": False, "error": f"unknown op {op!r}", "fatal": False})
    return 0


def die_with_parent() -> None:
    """Linux: SIGKILL this worker when the pool's process dies, even if a job is stuck."""
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: stdin's end of file still stops an idle worker
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


def main(argv: list[str]) -> int:
    die_with_parent()
    # Ctrl-C on the server reaches the whole process group: the pool ends its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    global _protocol
    _protocol = take_stdout()
    return serve(test_hooks="--test-hooks" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
