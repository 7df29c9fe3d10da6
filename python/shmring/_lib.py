"""Loading libshmring.so and declaring the C API to ctypes.

The library is the Go implementation built with ``go build -buildmode=c-shared``
(see capi/shmring.h). It is found, in order:

1. at the path in the environment variable ``SHMRING_LIB``;
2. as ``libshmring.so`` beside this file (git-ignored);
3. failing both, it is built into that place from the repository this package
   lives in, with the Go toolchain (``go`` on PATH).

Loading starts the Go runtime in this process: from then on the process must
not fork without exec (use the multiprocessing 'spawn' or 'forkserver' start
methods), because only the forking thread survives a fork and the Go
runtime's other threads do not.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

__all__ = ["lib", "library_path", "Options", "Stats", "LibraryError"]

_HERE = Path(__file__).resolve().parent
_DEFAULT = _HERE / "libshmring.so"
_REPO = _HERE.parent.parent

c_ring = ctypes.c_uint64
c_producer = ctypes.c_uint64
c_consumer = ctypes.c_uint64


class LibraryError(ImportError):
    """libshmring.so could not be found, built or loaded."""


class Options(ctypes.Structure):
    """shmring_options: a zeroed struct means the documented defaults."""

    _fields_ = [
        ("kind", ctypes.c_int32),
        ("wait", ctypes.c_int32),
        ("size", ctypes.c_int64),
        ("mode", ctypes.c_uint32),
        ("slot_size", ctypes.c_int32),
        ("participants", ctypes.c_int32),
        ("watch_parent", ctypes.c_int32),
        ("spin_budget_ns", ctypes.c_int64),
        ("lanes", ctypes.c_int32),
    ]


class Stats(ctypes.Structure):
    """shmring_stats: an endpoint's counters."""

    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "msgs_sent",
            "bytes_sent",
            "msgs_received",
            "bytes_received",
            "full_waits",
            "empty_waits",
            "sleeps",
            "wakes",
            "reaped",
        )
    ]


def _build(target: Path) -> None:
    """Builds the library into target with the Go toolchain of PATH."""
    go = shutil.which("go")
    if go is None:
        raise LibraryError(
            f"shmring: {target} is missing and the Go toolchain (go) is not on PATH "
            "to build it; install Go, or build it elsewhere with "
            "'go build -buildmode=c-shared -o libshmring.so ./capi' and set SHMRING_LIB"
        )
    if not (_REPO / "go.mod").is_file() or not (_REPO / "capi").is_dir():
        raise LibraryError(f"shmring: {target} is missing and {_REPO} holds no capi package to build it from")
    # Build beside the target and rename, so that processes starting at the
    # same time never load a half-written file.
    fd, tmp = tempfile.mkstemp(prefix=".libshmring-", suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run(
            [go, "build", "-buildmode=c-shared", "-o", tmp, "./capi"],
            cwd=_REPO,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise LibraryError(f"shmring: go build -buildmode=c-shared ./capi failed:\n{done.stderr.strip()}")
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, tmp[: -len(".so")] + ".h"):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass


def library_path() -> Path:
    """Returns the path of the library to load, building it if needed."""
    env = os.environ.get("SHMRING_LIB")
    if env:
        path = Path(env)
        if not path.is_file():
            raise LibraryError(f"shmring: SHMRING_LIB={env}: no such file")
        return path
    if not _DEFAULT.is_file():
        _build(_DEFAULT)
    return _DEFAULT


def _declare(dll: ctypes.CDLL) -> None:
    """Declares every function of shmring.h with its argument and result types."""
    i32, i64, u64, sz = ctypes.c_int, ctypes.c_int64, ctypes.c_uint64, ctypes.c_size_t
    p_opts = ctypes.POINTER(Options)
    p_stats = ctypes.POINTER(Stats)
    p_u64 = ctypes.POINTER(u64)
    sigs = {
        "shmring_strerror": (ctypes.c_char_p, [i32]),
        "shmring_last_error": (sz, [ctypes.c_char_p, sz]),
        "shmring_create": (i32, [ctypes.c_char_p, p_opts, p_u64]),
        "shmring_open": (i32, [ctypes.c_char_p, p_opts, p_u64]),
        "shmring_open_or_create": (i32, [ctypes.c_char_p, p_opts, p_u64]),
        "shmring_create_anonymous": (i32, [p_opts, p_u64]),
        "shmring_inherit": (i32, [ctypes.c_char_p, p_opts, p_u64]),
        "shmring_pass_fd": (i32, [c_ring, ctypes.c_char_p, ctypes.c_char_p, sz]),
        "shmring_close": (i32, [c_ring]),
        "shmring_close_stream": (i32, [c_ring]),
        "shmring_abort_stream": (i32, [c_ring, ctypes.c_uint32]),
        "shmring_abort_code": (i64, [c_ring]),
        "shmring_unlink": (i32, [ctypes.c_char_p]),
        "shmring_kind": (i32, [c_ring]),
        "shmring_max_message": (i64, [c_ring]),
        "shmring_capacity": (i64, [c_ring]),
        "shmring_producer_open": (i32, [c_ring, p_u64]),
        "shmring_consumer_open": (i32, [c_ring, p_u64]),
        "shmring_producer_close": (i32, [c_producer]),
        "shmring_consumer_close": (i32, [c_consumer]),
        "shmring_producer_stats": (i32, [c_producer, p_stats]),
        "shmring_consumer_stats": (i32, [c_consumer, p_stats]),
        "shmring_send": (i32, [c_producer, ctypes.c_void_p, sz, i64]),
        "shmring_try_send": (i32, [c_producer, ctypes.c_void_p, sz]),
        "shmring_send_batch": (i64, [c_producer, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(sz), sz, i64]),
        "shmring_recv": (i64, [c_consumer, ctypes.c_void_p, sz, i64]),
        "shmring_try_recv": (i64, [c_consumer, ctypes.c_void_p, sz]),
        "shmring_recv_batch": (i64, [c_consumer, ctypes.c_void_p, sz, ctypes.POINTER(sz), sz, i64]),
        "shmring_consumer_fd": (i32, [c_consumer]),
        "shmring_producer_fd": (i32, [c_producer]),
        "shmring_num_events": (i32, []),
        "shmring_event_set": (i32, [c_ring, i32]),
        "shmring_event_clear": (i32, [c_ring, i32]),
        "shmring_event_is_set": (i32, [c_ring, i32]),
        "shmring_event_wait": (i32, [c_ring, i32, i64]),
        "shmring_event_fd": (i32, [c_ring, i32]),
        "shmring_event_fd_close": (i32, [c_ring, i32]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(dll, name)
        fn.restype = restype
        fn.argtypes = argtypes


_lock = threading.Lock()
_dll: ctypes.CDLL | None = None


def lib() -> ctypes.CDLL:
    """Returns the loaded library, loading (and if needed building) it on first use."""
    global _dll
    if _dll is None:
        with _lock:
            if _dll is None:
                path = library_path()
                try:
                    dll = ctypes.CDLL(str(path))
                    _declare(dll)
                except (OSError, AttributeError) as e:
                    raise LibraryError(f"shmring: load {path}: {e}") from e
                _dll = dll
    return _dll
