"""The package file: a plain, reproducible zip that the daemon can open.

One deflated entry per file, ``/`` paths sorted bytewise, no directory entries (the daemon opens
every entry as a file and fails on a directory one, Dify issue #19319), fixed time, mode and
compression level so two builds give the same bytes.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from difypkg.errors import PackageError

DEFAULT_MAX_SIZE_MB = 50  # the CLI's --max-size default, in MiB
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
COMPRESS_LEVEL = 9


def check_size(root: Path, files: Sequence[str], max_size: int) -> int:
    """The CLI's limit on the summed uncompressed size; returns the total."""
    sizes = [(rel, (Path(root) / rel).stat().st_size) for rel in files]
    total = sum(size for _, size in sizes)
    if total > max_size:
        top = sorted(sizes, key=lambda item: item[1], reverse=True)[:5]
        listing = "\n".join(f"{i}. name: {rel}, size: {size} bytes" for i, (rel, size) in enumerate(top, 1))
        raise PackageError(
            f"Plugin package size is too large ({total} bytes). Please ensure the uncompressed size is less "
            f"than {max_size} bytes.\nPackaged file info:\n{listing}\n"
            f"List what the plugin does not need in .difyignore."
        )
    return total


def build_archive(root: Path, files: Sequence[str]) -> bytes:
    """The zip bytes: sorted entries, no directories, fixed time, mode and compression."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for rel in sorted(files, key=lambda p: p.encode("utf-8")):
            info = zipfile.ZipInfo(rel, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = (stat.S_IFREG | FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (Path(root) / rel).read_bytes(), zipfile.ZIP_DEFLATED, COMPRESS_LEVEL)
    return buffer.getvalue()


def with_comment(data: bytes, comment: bytes) -> bytes:
    """The same zip with ``comment`` in its end record; the entries' bytes are kept as they are."""
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = comment
    return buffer.getvalue()


def write_file(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` through a temporary file, so a reader never sees half a package."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".difypkg-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
