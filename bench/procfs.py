"""What Linux says about a process or the machine (``/proc``), read without any dependency."""

from __future__ import annotations

import contextlib
import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of a whole process (all its threads, live or gone), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_field(path: str, key: str) -> str | None:
    """The value of the first ``key: value`` line of a /proc file (status, meminfo, cpuinfo)."""
    with contextlib.suppress(OSError), open(path, encoding="utf-8") as f:
        for line in f:
            name, sep, value = line.partition(":")
            if sep and name.strip() == key:
                return value.strip()
    return None


def kib_as_mib(value: str | None) -> float:
    """``"1234 kB"`` → MiB (NaN when the field is missing)."""
    return int(value.split()[0]) / 1024 if value else float("nan")


def proc_mem_mb(pid: int, key: str) -> float:
    """A memory field of ``/proc/<pid>/status`` (``VmHWM``, ``VmRSS`` …), in MiB."""
    return kib_as_mib(proc_field(f"/proc/{pid}/status", key))
