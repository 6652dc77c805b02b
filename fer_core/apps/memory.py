"""Give freed memory back to the operating system after a large image or video has been processed.

Decoding a 12 MP photo or 4K frames allocates and frees hundreds of megabytes in blocks of a few megabytes.
glibc keeps such freed blocks in its heap for reuse, so a server's resident size stays 20-150 MB higher after
every large upload even though nothing holds the arrays any more; ``malloc_trim`` returns those pages.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["release_freed_memory"]


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None on other C libraries (musl, macOS, Windows), where it is not needed."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


def release_freed_memory() -> None:
    """Return the C heap's free pages to the operating system (a few milliseconds; a no-op off glibc)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
