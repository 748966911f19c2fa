"""Which audio format a file is, from its first bytes.

Servers pick the decoder by the upload's file name (whisper.cpp, OpenAI), and Dify hands the
plugin a temporary file without a useful name, so the extension is found from the content.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HEAD_BYTES", "KNOWN", "AudioFormat", "sniff"]

HEAD_BYTES = 64
"""How many leading bytes `sniff` needs."""


@dataclass(frozen=True, slots=True)
class AudioFormat:
    extension: str
    mime: str


WAV = AudioFormat("wav", "audio/wav")
MP3 = AudioFormat("mp3", "audio/mpeg")
OGG = AudioFormat("ogg", "audio/ogg")
FLAC = AudioFormat("flac", "audio/flac")
M4A = AudioFormat("m4a", "audio/mp4")
MP4 = AudioFormat("mp4", "audio/mp4")
WEBM = AudioFormat("webm", "audio/webm")
AAC = AudioFormat("aac", "audio/aac")
KNOWN = "wav, mp3, ogg/opus, flac, m4a/mp4, webm, aac"

_M4A_BRANDS = (b"M4A ", b"M4B ", b"M4P ")


def _mpeg_frame(head: bytes) -> AudioFormat | None:
    """An MPEG audio frame header (MP3 without ID3 tag) or an ADTS (raw AAC) header."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    if layer == 0:  # ADTS: 12 sync bits, then version, layer 00
        return AAC if head[1] & 0xF6 == 0xF0 else None
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0b11
    if version == 0b01 or bitrate == 0b1111 or rate == 0b11:  # reserved values: not a frame
        return None
    return MP3


def sniff(head: bytes) -> AudioFormat | None:
    """The format of audio starting with `head` (at least HEAD_BYTES when the file is that
    long), or None when it is none this module knows."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:3] == b"ID3":
        return MP3
    if head[:4] == b"OggS":
        return OGG
    if head[:4] == b"fLaC":
        return FLAC
    if head[4:8] == b"ftyp":
        return M4A if head[8:12] in _M4A_BRANDS else MP4
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM (or Matroska, which the same decoders read)
        return WEBM
    return _mpeg_frame(head)
