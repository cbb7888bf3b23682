"""A full disk without root: a child process under a file-size limit (`ulimit -f`), where every
write past the limit fails in whatever library makes it (safetensors in Rust, torch.save in C++),
as a full disk, a quota or a FAT32 drive's 4 GB limit make it fail. POSIX only."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

try:
    import resource
except ImportError:  # Windows
    resource = None

posix_only = pytest.mark.skipif(resource is None, reason="file-size limits are POSIX")


def run_size_limited(limit_bytes: int, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """`python ARGS...` with no file allowed to grow past `limit_bytes`."""

    def limit() -> None:
        # Without this the kernel kills the writer (SIGXFSZ); ignored, the write fails (EFBIG).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, *args], preexec_fn=limit, capture_output=True, text=True, timeout=300,
        **kwargs,
    )  # fmt: skip
