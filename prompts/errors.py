"""What can go wrong with a prompt, each with a reason a user can act on.

::

    PromptError                anything this package raises on purpose (.reason: for the user)
    ├── InvalidAudio           the upload is not usable audio: empty, text, truncated, undecodable,
    │                          an unsupported format, or it took too long to decode
    ├── AudioTooLarge          the upload is bigger than the size limit (checked before decoding)
    ├── AudioTooShort          shorter than the minimum duration
    ├── AudioTooLong           longer than the maximum duration
    ├── PromptNotFound         no prompt has that id
    ├── PromptInUse            workflows still play it (.workflows: their ids): not deleted
    ├── InvalidSpeech          the text, rate or language cannot be spoken (e.g. no text)
    ├── SpeechFailed           the speech engine could not say the text
    │   └── SpeechTimedOut     the speech engine took too long (it was stopped)
    └── UnknownVoice           the speech engine has no such voice or language
                               (.available: what it has)

All of them are permanent for the request that caused them: sending the same request again
gives the same answer (except SpeechTimedOut, which a busy machine can cause: it may pass later).
The admin routes turn them into HTTP answers in one place (4xx, ``reason`` as the message).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AudioTooLarge",
    "AudioTooLong",
    "AudioTooShort",
    "InvalidAudio",
    "InvalidSpeech",
    "PromptError",
    "PromptInUse",
    "PromptNotFound",
    "SpeechFailed",
    "SpeechTimedOut",
    "UnknownVoice",
]


class PromptError(Exception):
    """A prompt could not be made, found or removed; ``reason`` says why, for a user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidAudio(PromptError):
    """The file is not audio this server can use (``reason`` says what is wrong with it)."""


class AudioTooLarge(PromptError):
    """The file is bigger than ``limit_bytes``."""

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        super().__init__(
            f"the file is too large ({_mib(size_bytes)}): the limit is {_mib(limit_bytes)}"
        )
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class AudioTooShort(PromptError):
    """The audio lasts less than ``min_seconds``."""

    def __init__(self, seconds: float, min_seconds: float) -> None:
        super().__init__(
            f"the audio is too short ({seconds:.2f} s): it must last at least {min_seconds:g} s"
        )
        self.seconds = seconds
        self.min_seconds = min_seconds


class AudioTooLong(PromptError):
    """The audio lasts more than ``max_seconds``."""

    def __init__(self, seconds: float | None, max_seconds: float) -> None:
        length = f" ({seconds:.1f} s)" if seconds is not None else ""
        super().__init__(f"the audio is too long{length}: it may last at most {max_seconds:g} s")
        self.seconds = seconds
        self.max_seconds = max_seconds


class PromptNotFound(PromptError):
    """No prompt has the id ``prompt_id``."""

    def __init__(self, prompt_id: str) -> None:
        super().__init__(f"there is no prompt {prompt_id!r}")
        self.prompt_id = prompt_id


class PromptInUse(PromptError):
    """The prompt is played by ``workflows`` (their ids), so it was not deleted."""

    def __init__(self, prompt_id: str, workflows: Sequence[str]) -> None:
        names = ", ".join(workflows)
        super().__init__(
            f"prompt {prompt_id!r} is used by workflow(s) {names}: remove it from them first"
        )
        self.prompt_id = prompt_id
        self.workflows = tuple(workflows)


class SpeechFailed(PromptError):
    """The speech engine failed to say the text."""


class SpeechTimedOut(SpeechFailed):
    """The speech engine did not finish in time and was stopped."""


class InvalidSpeech(PromptError, ValueError):
    """The text, rate or language tag cannot be spoken."""


class UnknownVoice(PromptError):
    """The speech engine has no such voice or language; ``available`` lists what it has."""

    def __init__(self, reason: str, available: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.available = tuple(available)


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"
