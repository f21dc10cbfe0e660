"""Audio checks and conversion to the telephony profile, with ffprobe and ffmpeg.

An upload goes through, in order (the cheap checks first, nothing decoded before they pass):

1. **size**: an empty file or one above the size limit is refused before it is read;
2. **sniff**: the format from the first bytes, not from the file name: WAV (``RIFF....WAVE``),
   MP3 (``ID3`` or an MPEG audio frame sync), OGG (``OggS``), M4A/MP4 (``ftyp`` at byte 4).
   Anything else is refused, with "it looks like text" when it does;
3. **WAV structure**: a WAV whose header promises more sample data than the file holds is
   *truncated* (ffmpeg and pydub would quietly decode what is there);
4. **probe and measure, at once**: ``ffprobe`` (is there an audio stream? how long does it say
   it is?) runs beside the first ``ffmpeg`` pass, which decodes the audio once, mixes it down
   and resamples it to 8 kHz mono (32-bit float, kept in a temporary raw file) while the
   ``ebur128`` filter measures its integrated loudness and sample peak. A probe that fails or
   reports a duration well above the maximum stops the decoder at once;
5. **trim silence** (uploads): the first pass also keeps the audio as 16-bit samples, in which
   pydub finds the leading and trailing silence (:mod:`prompts.silence`: a threshold, a margin
   kept and a cap, so speech is never cut);
6. **normalise and encode**: the second ``ffmpeg`` pass keeps that audible span and applies
   one gain to the 8 kHz audio (towards :data:`TARGET_LUFS`, never past
   :data:`PEAK_CEILING_DBFS` nor more than :data:`MAX_GAIN_DB`) and writes, from the same
   16-bit samples, the two files served: 8 kHz mono 16-bit PCM WAV (``<digest>.wav``, for
   Twilio's ``<Play>``) and 8 kHz mono mu-law WAV (``<digest>.ulaw.wav``);
7. the exact duration (from the PCM data size) must lie within the minimum and maximum.

Why two passes and a measured gain rather than ffmpeg's ``loudnorm``: ``loudnorm`` resamples
to 192 kHz internally; for a 60 s MP3 it took 1.0-2.1 s here, the two passes above ~0.2 s.
Measuring at 8 kHz measures what the caller will hear. Why not pydub for the conversion: its
calls block, cannot be bounded in time or killed, cannot force a demuxer and cannot restrict
ffmpeg's protocols; here every tool runs as an asyncio subprocess, off the event loop, with a
time limit (it is killed when the limit passes or the caller gives up), with
``-protocol_whitelist file`` and the demuxer forced to the sniffed format (so a crafted file
cannot make ffmpeg open a playlist, a URL or another file). pydub only reads the samples the
first pass decoded (step 5).

The outputs are written with ``-fflags +bitexact`` and no metadata, so the same input gives the
same bytes, and the sha256 of the PCM WAV names both files (see :mod:`prompts.store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from prompts.errors import AudioTooLarge, AudioTooLong, AudioTooShort, InvalidAudio
from prompts.silence import Span, audible_span

__all__ = [
    "MAX_GAIN_DB",
    "PEAK_CEILING_DBFS",
    "SAMPLE_RATE",
    "TARGET_LUFS",
    "Converted",
    "Format",
    "Loudness",
    "check_upload",
    "check_wav",
    "convert",
    "gain_db",
    "pass_commands",
    "prepare_upload",
    "probe",
    "run_tool",
    "sniff",
]

Format = Literal["wav", "mp3", "ogg", "m4a"]

SAMPLE_RATE: Final = 8000
TARGET_LUFS: Final = -18.0
"""Integrated loudness prompts are brought to (EBU R128, measured on the 8 kHz audio)."""
PEAK_CEILING_DBFS: Final = -1.5
"""The gain never lifts the sample peak above this."""
MAX_GAIN_DB: Final = 24.0
"""Quiet recordings are lifted at most this much (more would mostly lift the noise)."""
SILENCE_LUFS: Final = -60.0
"""At or below this the audio counts as silence and is left as it is."""
TOO_LONG_SLACK_S: Final = 1.0
"""A probe's duration is an estimate for some formats: only this much over the maximum
refuses the file before decoding; the exact check is on the converted audio."""

_DEMUXER: Final[dict[str, str]] = {"wav": "wav", "mp3": "mp3", "ogg": "ogg", "m4a": "mov"}
_HEAD_BYTES: Final = 512
_PCM_BYTES_PER_MS: Final = SAMPLE_RATE * 2 // 1000
_UNKNOWN_SIZES: Final = (0, 0xFFFFFFFF)
"""A WAV data size streaming writers put in the header when they do not know it."""
_LOUDNESS: Final = re.compile(r"\bI:\s+(-?[0-9.]+|-inf|inf|nan)\s+LUFS")
_PEAK: Final = re.compile(r"\bPeak:\s+(-?[0-9.]+|-inf|inf|nan)\s+dBFS")
UNSUPPORTED: Final = "unsupported format: use WAV, MP3, OGG or M4A"


class ToolTimedOut(Exception):
    """ffmpeg or ffprobe did not finish in time (it was killed)."""


# --- sniffing -----------------------------------------------------------------------------


def sniff(head: bytes) -> Format:
    """The format of a file that starts with ``head``; InvalidAudio when it is none we take."""
    if not head:
        raise InvalidAudio("empty file")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3" or _mpeg_frame(head):
        return "mp3"
    if _looks_like_text(head):
        raise InvalidAudio("not an audio file (it looks like text)")
    raise InvalidAudio(UNSUPPORTED)


def _mpeg_frame(head: bytes) -> bool:
    """Whether ``head`` starts with an MPEG audio layer I-III frame header (not AAC's ADTS,
    whose layer bits are 00)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0x3, (head[1] >> 1) & 0x3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0x3
    return version != 1 and layer != 0 and bitrate != 0xF and rate != 0x3


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    with contextlib.suppress(UnicodeDecodeError):
        # a multi-byte character may be cut at the end of the head
        decoded = head[: len(head) - 3].decode("utf-8") if len(head) > 3 else head.decode()
        return all(ch.isprintable() or ch in "\t\r\n\f" for ch in decoded)
    return False


def check_wav(path: Path) -> None:
    """Refuse a WAV file whose chunks run past its end (a truncated upload)."""
    size = path.stat().st_size
    with path.open("rb") as file:
        riff = file.read(12)
        if len(riff) < 12:
            raise InvalidAudio("the WAV file is truncated")
        offset = 12
        while True:
            header = file.read(8)
            if len(header) < 8:
                # the file ended before any sample data
                raise InvalidAudio("the WAV file is truncated")
            chunk, length = header[:4], struct.unpack("<I", header[4:])[0]
            offset += 8
            if chunk == b"data":
                if length not in _UNKNOWN_SIZES and offset + length > size:
                    raise InvalidAudio("the WAV file is truncated")
                return
            offset += length + (length & 1)  # chunks are padded to an even length
            if offset > size:
                raise InvalidAudio("the WAV file is truncated")
            file.seek(offset)


# --- running the tools --------------------------------------------------------------------


async def run_tool(args: list[str], time_limit: float) -> tuple[int, bytes, bytes]:
    """Run ``args`` (no shell, no stdin) and return (exit status, stdout, stderr).

    Raises ToolTimedOut after ``time_limit`` seconds; the process is killed then, and also when
    the caller is cancelled, so no ffmpeg outlives the request that started it."""
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(time_limit):
            out, err = await process.communicate()
    except TimeoutError:
        raise ToolTimedOut(f"{Path(args[0]).name} did not finish within {time_limit:g} s") from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            # Drain the pipes, not just wait(): an unread pipe whose buffer filled is paused,
            # never sees end-of-file, and wait() (which waits for the pipes) would never end.
            await asyncio.shield(process.communicate())
    assert process.returncode is not None
    return process.returncode, out, err


@dataclass(frozen=True, slots=True)
class Probed:
    """What ffprobe says about a file."""

    format_name: str
    codec: str
    duration_s: float | None


def probe_command(path: Path, fmt: Format) -> list[str]:
    """The ffprobe command for ``path``: local files only, the sniffed demuxer forced."""
    return [
        "ffprobe",
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-f",
        _DEMUXER[fmt],
        "-show_entries",
        "format=format_name,duration:stream=codec_type,codec_name",
        "-of",
        "json",
        f"file:{path}",
    ]


async def probe(path: Path, fmt: Format, time_limit: float) -> Probed:
    """Probe ``path`` as ``fmt``; InvalidAudio when ffprobe cannot read it or finds no audio."""
    try:
        status, out, _err = await run_tool(probe_command(path, fmt), time_limit)
    except ToolTimedOut:
        raise InvalidAudio(f"the file took too long to read (over {time_limit:g} s)") from None
    try:
        info = json.loads(out) if status == 0 else {}
    except ValueError:
        info = {}
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if status != 0 or not streams:
        name = "an M4A" if fmt == "m4a" else f"a {fmt.upper()}"
        raise InvalidAudio(f"the file could not be decoded as {name} file (it is damaged?)")
    fmt_info = info.get("format", {})
    duration = _float(fmt_info.get("duration"))
    codec = str(streams[0].get("codec_name"))
    return Probed(str(fmt_info.get("format_name", fmt)), codec, duration)


def _float(raw: object) -> float | None:
    try:
        value = float(str(raw))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --- conversion ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Loudness:
    """What the first pass measured (EBU R128 on the 8 kHz mono audio)."""

    integrated_lufs: float
    peak_dbfs: float


def gain_db(loudness: Loudness) -> float:
    """The gain that brings the audio to :data:`TARGET_LUFS`, within the peak ceiling and
    :data:`MAX_GAIN_DB`; 0 for silence."""
    if not math.isfinite(loudness.integrated_lufs) or loudness.integrated_lufs <= SILENCE_LUFS:
        return 0.0
    gain = TARGET_LUFS - loudness.integrated_lufs
    if math.isfinite(loudness.peak_dbfs):
        gain = min(gain, PEAK_CEILING_DBFS - loudness.peak_dbfs)
    return round(min(gain, MAX_GAIN_DB), 2)


def pass_commands(
    source: Path,
    fmt: Format | None,
    raw: Path,
    pcm: Path,
    ulaw: Path,
    *,
    gain: float,
    limit_seconds: float | None,
    levels: Path | None = None,
    keep: Span | None = None,
) -> tuple[list[str], list[str]]:
    """The two ffmpeg commands of the conversion (the benchmark runs them bare too).

    Pass 1 decodes ``source`` (as ``fmt``; None lets ffmpeg probe, for trusted files only)
    into 8 kHz mono float ``raw`` and measures its loudness (and with ``levels``, also writes
    the audio there as raw 16-bit samples, for finding silence); pass 2 keeps the samples of
    ``keep`` (default: all), applies ``gain`` dB and writes ``pcm`` and ``ulaw``."""
    demuxer = ["-f", _DEMUXER[fmt]] if fmt is not None else []
    limit = ["-t", f"{limit_seconds:g}"] if limit_seconds is not None else []
    split, level_output = "asplit=2[m][o]", []
    if levels is not None:
        split = "asplit=3[m][o][l]"
        level_output = ["-map", "[l]", "-c:a", "pcm_s16le", "-f", "s16le", f"file:{levels}"]
    first = [
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-v", "info", "-y",
        "-protocol_whitelist", "file", *demuxer, *limit, "-i", f"file:{source}",
        "-filter_complex",
        f"[0:a:0]aresample={SAMPLE_RATE},aformat=sample_fmts=flt:channel_layouts=mono,"
        f"{split};[m]ebur128=framelog=verbose:peak=sample,anullsink",
        "-map", "[o]", "-c:a", "pcm_f32le", "-f", "f32le", f"file:{raw}",
        *level_output,
    ]  # fmt: skip
    trim = "" if keep is None else f"atrim=start_sample={keep.start}:end_sample={keep.end},"
    bitexact = ["-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"]
    second = [
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-v", "error", "-y",
        "-protocol_whitelist", "file",
        "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", f"file:{raw}",
        "-filter_complex",
        f"[0:a]{trim}volume={gain:.2f}dB,aformat=sample_fmts=s16:channel_layouts=mono,asplit=2[p][u]",
        "-map", "[p]", "-c:a", "pcm_s16le", *bitexact, "-f", "wav", f"file:{pcm}",
        "-map", "[u]", "-c:a", "pcm_mulaw", *bitexact, "-f", "wav", f"file:{ulaw}",
    ]  # fmt: skip
    return first, second


def parse_loudness(stderr: str) -> Loudness:
    """The integrated loudness and sample peak from the ``ebur128`` summary on stderr."""
    summary = stderr[stderr.rfind("Summary:") :]
    loud, peak = _LOUDNESS.search(summary), _PEAK.search(summary)
    return Loudness(
        float(loud.group(1)) if loud else -math.inf, float(peak.group(1)) if peak else -math.inf
    )


@dataclass(frozen=True, slots=True)
class Converted:
    """Converted audio in a work folder: the PCM and mu-law WAVs and what they hold."""

    pcm: Path
    ulaw: Path
    digest: str
    """sha256 (hex) of the PCM WAV's bytes."""
    duration_ms: int
    size_bytes: int
    """Of the PCM WAV."""
    original_format: str
    gain_db: float
    trimmed_ms: int = 0
    """Silence trimmed from the ends (uploads only)."""


async def convert(
    source: Path,
    fmt: Format | None,
    workdir: Path,
    *,
    max_seconds: float,
    time_limit: float,
    probe_limit: float | None = None,
    trim_silence: bool = False,
) -> Converted:
    """Convert ``source`` into two WAVs in ``workdir`` (new names; the caller moves or removes
    them). With ``probe_limit`` (seconds), ffprobe checks the file beside the first pass (uploads);
    without, the file is trusted (the speech engine's output). With ``trim_silence``, leading
    and trailing silence is cut (:mod:`prompts.silence`)."""
    stem = workdir / os.urandom(8).hex()
    raw, pcm, ulaw = stem.with_suffix(".f32"), stem.with_suffix(".wav"), stem.with_suffix(".ulaw")
    levels = stem.with_suffix(".s16") if trim_silence else None
    first, second = pass_commands(
        source,
        fmt,
        raw,
        pcm,
        ulaw,
        gain=0.0,
        limit_seconds=max_seconds + TOO_LONG_SLACK_S,
        levels=levels,
    )
    try:
        measuring = asyncio.ensure_future(run_tool(first, time_limit))
        try:
            if probe_limit is not None and fmt is not None:
                probed = await probe(source, fmt, probe_limit)
                if probed.duration_s is not None and probed.duration_s > (
                    max_seconds + TOO_LONG_SLACK_S
                ):
                    raise AudioTooLong(probed.duration_s, max_seconds)
            status, _out, err = await measuring
        except BaseException:
            measuring.cancel()
            with contextlib.suppress(BaseException):
                await measuring
            raise
        if status != 0:
            raise InvalidAudio(_decode_failure(err, fmt))
        gain = gain_db(parse_loudness(err.decode("utf-8", "replace")))
        keep, decoded = None, 0
        if levels is not None:
            decoded = levels.stat().st_size // 2
            keep = await asyncio.to_thread(audible_span, levels, rate=SAMPLE_RATE, gain_db=gain)
        second = pass_commands(
            source, fmt, raw, pcm, ulaw, gain=gain, limit_seconds=None, keep=keep
        )[1]
        status, _out, err = await run_tool(second, time_limit)
        if status != 0:
            raise InvalidAudio(_decode_failure(err, fmt))
        digest, size, data_bytes = await asyncio.to_thread(_digest_and_length, pcm)
    except ToolTimedOut:
        _remove(pcm, ulaw)
        raise InvalidAudio(f"the file took too long to convert (over {time_limit:g} s)") from None
    except BaseException:
        _remove(pcm, ulaw)
        raise
    finally:
        _remove(raw, *([levels] if levels is not None else []))
    trimmed_ms = 0
    if keep is not None:
        trimmed_ms = (decoded - (keep.end - keep.start)) * 1000 // SAMPLE_RATE
    duration_ms = data_bytes // _PCM_BYTES_PER_MS
    return Converted(pcm, ulaw, digest, duration_ms, size, fmt or "wav", gain, trimmed_ms)


def _decode_failure(stderr: bytes, fmt: Format | None) -> str:
    text = stderr.decode("utf-8", "replace")
    if "matches no streams" in text or "does not contain any stream" in text:
        return "the file holds no audio"
    name = (fmt or "audio").upper()
    return f"the file could not be decoded as {name} (it is damaged?)"


def _digest_and_length(pcm: Path) -> tuple[str, int, int]:
    """sha256 hex, file size, and sample data bytes of one of our own PCM WAVs."""
    body = pcm.read_bytes()
    data = body.find(b"data", 12)
    if data < 0:
        raise InvalidAudio("the file holds no audio")
    return hashlib.sha256(body).hexdigest(), len(body), len(body) - data - 8


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def check_upload(path: Path, max_bytes: int) -> Format:
    """Steps 1-3 of the module docstring (no decoding): the sniffed format, or an error."""
    size = path.stat().st_size
    if size == 0:
        raise InvalidAudio("empty file")
    if size > max_bytes:
        raise AudioTooLarge(size, max_bytes)
    with path.open("rb") as file:
        head = file.read(_HEAD_BYTES)
    fmt = sniff(head)
    if fmt == "wav":
        check_wav(path)
    return fmt


async def prepare_upload(
    path: Path,
    workdir: Path,
    *,
    max_bytes: int,
    min_seconds: float,
    max_seconds: float,
    time_limit: float,
    probe_limit: float,
) -> Converted:
    """Check and convert an uploaded file (see the module docstring, steps 1-6)."""
    fmt = check_upload(path, max_bytes)
    converted = await convert(
        path,
        fmt,
        workdir,
        max_seconds=max_seconds,
        time_limit=time_limit,
        probe_limit=probe_limit,
        trim_silence=True,
    )
    seconds = converted.duration_ms / 1000
    if seconds < min_seconds or seconds > max_seconds:
        _remove(converted.pcm, converted.ulaw)
        if seconds < min_seconds:
            raise AudioTooShort(seconds, min_seconds)
        raise AudioTooLong(seconds if seconds <= max_seconds + 0.5 else None, max_seconds)
    return converted
