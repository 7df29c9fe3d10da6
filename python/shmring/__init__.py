"""shmring for Python: lock-free rings in shared memory, shared with Go programs.

A ctypes layer over libshmring.so, the C API of the Go implementation (one
implementation of the protocol, not two), with a synchronous API and an
asyncio API built on loop.add_reader::

    import shmring

    with shmring.Ring.create_anonymous() as ring:
        p, c = ring.producer(), ring.consumer()
        p.send(b"hello")
        p.close()                 # ends the stream
        print(c.recv())           # b'hello'; the next recv raises EndOfStream

Loading the library starts the Go runtime in the process: do not fork
without exec afterwards (multiprocessing: use 'spawn' or 'forkserver').
"""

from .aio import AsyncConsumer, AsyncProducer, Event
from .errors import (
    Aborted,
    BadName,
    Busy,
    Closed,
    Corrupt,
    Empty,
    EndOfStream,
    Exists,
    Full,
    InvalidArgument,
    Mismatch,
    NoSpace,
    NotFound,
    NotRing,
    NotSupported,
    OtherError,
    ParentDead,
    PeerDead,
    PermissionDenied,
    ShmringError,
    Timeout,
    TooLarge,
    Version,
)
from ._lib import LibraryError, library_path
from .ring import Consumer, Kind, Producer, Ring, RingToken, Stats, Wait, num_events

__all__ = [
    "Aborted",
    "AsyncConsumer",
    "AsyncProducer",
    "BadName",
    "Busy",
    "Closed",
    "Consumer",
    "Corrupt",
    "Empty",
    "EndOfStream",
    "Event",
    "Exists",
    "Full",
    "InvalidArgument",
    "Kind",
    "LibraryError",
    "Mismatch",
    "NoSpace",
    "NotFound",
    "NotRing",
    "NotSupported",
    "OtherError",
    "ParentDead",
    "PeerDead",
    "PermissionDenied",
    "Producer",
    "Ring",
    "RingToken",
    "ShmringError",
    "Stats",
    "Timeout",
    "TooLarge",
    "Version",
    "Wait",
    "library_path",
    "num_events",
]
