"""The exceptions of shmring, one per negative code of the C API.

Every exception is a ShmringError; several also derive from the built-in
exception a Python program would expect (Timeout is a TimeoutError,
EndOfStream an EOFError, Exists a FileExistsError, ...). The message is the
library's detailed one (shmring_last_error) when it has one.
"""

from __future__ import annotations

import ctypes
import re
from typing import NoReturn

from . import _lib

__all__ = [
    "ShmringError",
    "Full",
    "Empty",
    "TooLarge",
    "Corrupt",
    "Closed",
    "Busy",
    "PeerDead",
    "ParentDead",
    "Mismatch",
    "NotRing",
    "Version",
    "BadName",
    "NoSpace",
    "NotSupported",
    "EndOfStream",
    "Aborted",
    "Timeout",
    "Exists",
    "NotFound",
    "InvalidArgument",
    "PermissionDenied",
    "OtherError",
    "raise_code",
]


class ShmringError(Exception):
    """The base of every shmring error; code is the C API's negative code."""

    code: int = -99

    def __init__(self, message: str = "", code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class Full(ShmringError):
    """A try-send found no room in the ring (SHMRING_EFULL)."""

    code = -1


class Empty(ShmringError):
    """A try-receive found nothing to read (SHMRING_EEMPTY)."""

    code = -2


class TooLarge(ShmringError, ValueError):
    """A message larger than the ring's largest (SHMRING_ETOOLARGE)."""

    code = -3


class Corrupt(ShmringError):
    """The segment's contents are unsound (SHMRING_ECORRUPT)."""

    code = -4


class Closed(ShmringError):
    """The endpoint, its ring, or the stream was closed (SHMRING_ECLOSED)."""

    code = -5


class Busy(ShmringError):
    """The role is already attached (SHMRING_EBUSY)."""

    code = -6


class PeerDead(ShmringError):
    """The peer process died (SHMRING_EPEERDEAD)."""

    code = -7


class ParentDead(ShmringError):
    """The parent process died (SHMRING_EPARENTDEAD)."""

    code = -8


class Mismatch(ShmringError):
    """The ring does not match the options asked for (SHMRING_EMISMATCH)."""

    code = -9


class NotRing(ShmringError):
    """The file is not a shmring segment (SHMRING_ENOTRING)."""

    code = -10


class Version(ShmringError):
    """The segment has an unsupported format version (SHMRING_EVERSION)."""

    code = -11


class BadName(ShmringError, ValueError):
    """A bad ring name or key (SHMRING_ENAME)."""

    code = -12


class NoSpace(ShmringError):
    """No room for the segment (SHMRING_ENOSPACE)."""

    code = -13


class NotSupported(ShmringError):
    """Not supported on this system (SHMRING_ENOTSUPPORTED)."""

    code = -14


class EndOfStream(ShmringError, EOFError):
    """The stream ended: the producer closed it and it is drained (SHMRING_EEOF)."""

    code = -15


class Aborted(ShmringError):
    """The stream was aborted (Ring.abort_stream) and is drained (SHMRING_EABORTED).

    abort_code is the reason the aborting process gave, or None when the
    message does not carry one.
    """

    code = -21

    def __init__(self, message: str = "", code: int | None = None) -> None:
        super().__init__(message, code)
        m = re.search(r"\(code (\d+)\)", message)
        self.abort_code: int | None = int(m.group(1)) if m else None


class Timeout(ShmringError, TimeoutError):
    """The timeout ran out (SHMRING_ETIMEOUT)."""

    code = -16


class Exists(ShmringError, FileExistsError):
    """Create: the name exists (SHMRING_EEXIST)."""

    code = -17


class NotFound(ShmringError, FileNotFoundError):
    """Open: no such ring (SHMRING_ENOENT)."""

    code = -18


class InvalidArgument(ShmringError, ValueError):
    """A bad argument or an unknown handle (SHMRING_EINVAL)."""

    code = -19


class PermissionDenied(ShmringError, PermissionError):
    """Permission denied (SHMRING_EPERM)."""

    code = -20


class OtherError(ShmringError):
    """Any other failure (SHMRING_EOTHER); the message says what."""

    code = -99


_BY_CODE: dict[int, type[ShmringError]] = {
    cls.code: cls
    for cls in (
        Full,
        Empty,
        TooLarge,
        Corrupt,
        Closed,
        Busy,
        PeerDead,
        ParentDead,
        Mismatch,
        NotRing,
        Version,
        BadName,
        NoSpace,
        NotSupported,
        EndOfStream,
        Aborted,
        Timeout,
        Exists,
        NotFound,
        InvalidArgument,
        PermissionDenied,
        OtherError,
    )
}


def _message(code: int) -> str:
    """The calling thread's last detailed error, or the static text of code."""
    dll = _lib.lib()
    buf = ctypes.create_string_buffer(512)
    n = dll.shmring_last_error(buf, len(buf))
    if n >= len(buf):
        buf = ctypes.create_string_buffer(n + 1)
        dll.shmring_last_error(buf, len(buf))
    text = buf.value.decode("utf-8", "replace")
    if text:
        return text
    static = dll.shmring_strerror(code)
    return static.decode("utf-8", "replace") if static else f"shmring: error {code}"


def error_for(code: int) -> ShmringError:
    """Returns the exception for a negative code of the C API, with its message."""
    cls = _BY_CODE.get(code, OtherError)
    return cls(_message(code), code)


def raise_code(code: int) -> NoReturn:
    """Raises the exception for a negative code of the C API."""
    raise error_for(code)
