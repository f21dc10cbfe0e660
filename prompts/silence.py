"""Leading and trailing silence of an upload, found with pydub, so that a recording that starts
with three seconds of "is it recording?" does not make every caller wait three seconds.

The first conversion pass (:mod:`prompts.audio`) also writes the decoded 8 kHz mono audio as
16-bit samples; :func:`audible_span` reads them into a pydub ``AudioSegment`` (pure Python, no
ffmpeg: raw PCM needs none) and asks ``pydub.silence.detect_leading_silence`` where the sound
starts, from the front and from the back (on the reversed audio). The second pass then keeps
only that span (``atrim``, to the sample).

It never trims speech:

* **threshold**: a 10 ms stretch is silent when its RMS level is under
  :data:`SILENCE_THRESHOLD_DBFS` *after* the loudness gain (the threshold is moved by the gain,
  so a quiet recording lifted by 20 dB is judged as the caller will hear it);
* **margin**: :data:`KEEP_SECONDS` of the silence stays on each side, so the soft start of a
  word (an "h", an "f") and the decay of the last one are kept;
* **cap**: at most :data:`MAX_TRIM_SECONDS` go from each end, whatever the detection says;
* audio that is under the threshold throughout is left whole (it is quiet, not absent; the
  minimum duration check still applies).

Why pydub here and not for the conversion: this step reads samples already decoded by our own
bounded ffmpeg run, from a local file we wrote, so none of pydub's limits apply (its calls
block, which is why this runs in a worker thread; it reads a few seconds from each end only).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Final

with warnings.catch_warnings():
    # pydub imports audioop (deprecated since Python 3.11) and has old escape sequences.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", SyntaxWarning)
    from pydub import AudioSegment
    from pydub.silence import detect_leading_silence

SILENCE_THRESHOLD_DBFS: Final = -50.0
"""Quieter than this (RMS over 10 ms, after the gain) is silence. Speech brought to -18 LUFS
sits around -30..-15 dBFS; a phone's or a room's noise floor is under -55."""
KEEP_SECONDS: Final = 0.15
"""Silence kept before the first sound and after the last."""
MAX_TRIM_SECONDS: Final = 5.0
"""Most trimmed from each end."""
CHUNK_MS: Final = 10
SAMPLE_BYTES: Final = 2


@dataclass(frozen=True, slots=True)
class Span:
    """The samples to keep: ``start`` (inclusive) to ``end`` (exclusive)."""

    start: int
    end: int


def _silent_ms(segment: AudioSegment, threshold: float) -> int:
    """Milliseconds of silence at the start of ``segment``, looking no further than the cap
    and the margin allow trimming."""
    window_ms = int((MAX_TRIM_SECONDS + KEEP_SECONDS) * 1000) + CHUNK_MS
    found: int = detect_leading_silence(
        segment[:window_ms], silence_threshold=threshold, chunk_size=CHUNK_MS
    )
    return found


def audible_span(levels: Path, *, rate: int, gain_db: float) -> Span | None:
    """Where the sound is in ``levels`` (raw 16-bit mono samples at ``rate`` Hz, before a
    gain of ``gain_db``), margins kept and cuts capped; None to keep everything."""
    data = levels.read_bytes()
    total = len(data) // SAMPLE_BYTES
    if total == 0:
        return None
    segment = AudioSegment(data=data, sample_width=SAMPLE_BYTES, frame_rate=rate, channels=1)
    threshold = SILENCE_THRESHOLD_DBFS - gain_db
    if segment.max_dBFS < threshold:
        return None  # quiet throughout, not silence around something
    lead_ms = _silent_ms(segment, threshold)
    tail = AudioSegment(
        data=data[-int((MAX_TRIM_SECONDS + KEEP_SECONDS + 1) * rate) * SAMPLE_BYTES :],
        sample_width=SAMPLE_BYTES,
        frame_rate=rate,
        channels=1,
    )
    trail_ms = _silent_ms(tail.reverse(), threshold)
    cut_ms = [
        min(max(silent - KEEP_SECONDS * 1000, 0.0), MAX_TRIM_SECONDS * 1000)
        for silent in (lead_ms, trail_ms)
    ]
    start = int(cut_ms[0] * rate / 1000)
    end = total - int(cut_ms[1] * rate / 1000)
    if (start == 0 and end == total) or end <= start:
        return None
    return Span(start, end)
