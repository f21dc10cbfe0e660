"""Real audio files for the prompt tests, made with ffmpeg, and checks with ffprobe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ENCODERS = {"mp3": ["-c:a", "libmp3lame"], "ogg": ["-c:a", "libvorbis"], "m4a": ["-c:a", "aac"]}


def tone(
    folder: Path,
    name: str,
    seconds: float,
    *,
    fmt: str | None = None,
    frequency: int = 440,
    volume_db: float = 0.0,
    rate: int = 44100,
    channels: int = 2,
) -> Path:
    """A sine tone of ``seconds`` as ``folder/name`` (format from the suffix unless ``fmt``)."""
    path = folder / name
    kind = fmt or path.suffix.lstrip(".")
    args = ENCODERS.get(kind, ["-c:a", "pcm_s16le"])
    container = {"m4a": "ipod", "mp3": "mp3", "ogg": "ogg"}.get(kind, "wav")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
         "-i", f"sine=frequency={frequency}:duration={seconds}:sample_rate={rate}",
         "-af", f"volume={volume_db}dB", "-ac", str(channels), *args, "-f", container, str(path)],
        check=True,
    )  # fmt: skip
    return path


def stream_info(path: Path) -> dict[str, str]:
    """ffprobe's codec_name, sample_rate, channels of the first audio stream, and duration."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a:0",
         "-show_entries", "stream=codec_name,sample_rate,channels:format=duration,format_name",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    info = json.loads(out)
    stream = info["streams"][0]
    return {
        "codec": stream["codec_name"],
        "sample_rate": str(stream["sample_rate"]),
        "channels": str(stream["channels"]),
        "duration": info["format"]["duration"],
        "format": info["format"]["format_name"],
    }


def mean_volume_db(path: Path) -> float:
    """The mean volume (dBFS) ffmpeg's volumedetect measures."""
    err = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-af", "volumedetect",
         "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    line = next(line for line in err.splitlines() if "mean_volume:" in line)
    return float(line.split("mean_volume:")[1].split("dB")[0])
