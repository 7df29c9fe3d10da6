"""Rings, their synchronous endpoints, and passing a ring to a child.

A Ring is a handle on a segment (named, file-backed or anonymous). Its
producer() and consumer() attach the synchronous endpoints defined here;
async_producer() and async_consumer() attach the asyncio ones of
shmring.aio. Every blocking call takes timeout=None (wait for ever), 0 (a
try) or a number of seconds.
"""

from __future__ import annotations

import ctypes
import enum
import os
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from . import _lib
from .errors import Closed, EndOfStream, ShmringError, error_for, raise_code

if TYPE_CHECKING:
    from .aio import AsyncConsumer, AsyncProducer, Event

__all__ = ["Kind", "Wait", "Ring", "Producer", "Consumer", "Stats", "RingToken", "num_events"]

EFULL = -1
EEMPTY = -2
ECLOSED = -5
EEOF = -15
ETIMEOUT = -16
EINVAL = -19

#: Starts the variable that names a passed ring's descriptor (SHMRING_FD_<key>).
ENV_PREFIX = "SHMRING_FD_"

#: The most messages one receive of a batch returns by default.
DEFAULT_BATCH = 64


class Kind(enum.IntEnum):
    """The kind of a ring: one producer and one consumer, or any number of each."""

    SPSC = 0
    MPMC = 1


class Wait(enum.IntEnum):
    """How a blocking call inside the library waits (Go's WaitStrategy)."""

    ADAPTIVE = 0
    SPIN = 1
    BLOCK = 2


@dataclass(frozen=True)
class Stats:
    """An endpoint's counters (Go's Stats)."""

    msgs_sent: int
    bytes_sent: int
    msgs_received: int
    bytes_received: int
    full_waits: int
    empty_waits: int
    sleeps: int
    wakes: int
    reaped: int


def timeout_ns(timeout: float | None) -> int:
    """Converts a timeout in seconds (None: for ever) to the C API's nanoseconds."""
    if timeout is None:
        return -1
    if timeout < 0:
        raise ValueError(f"shmring: negative timeout {timeout}")
    return int(timeout * 1e9)


def check(code: int) -> int:
    """Returns code if it is not negative, and raises its exception otherwise."""
    if code < 0:
        raise_code(code)
    return code


def _options(
    kind: Kind | str | int,
    size: int,
    wait: Wait | str | int,
    slot_size: int,
    participants: int,
    mode: int,
    watch_parent: bool,
    spin_budget: float | None,
    lanes: int,
) -> _lib.Options:
    """The C options struct of the keyword options (kinds and strategies by name or value)."""
    if isinstance(kind, str):
        kind = Kind[kind.upper()]
    if isinstance(wait, str):
        wait = Wait[wait.upper()]
    return _lib.Options(
        kind=int(Kind(kind)),
        wait=int(Wait(wait)),
        size=size,
        mode=mode,
        slot_size=slot_size,
        participants=participants,
        watch_parent=1 if watch_parent else 0,
        spin_budget_ns=0 if spin_budget is None else int(spin_budget * 1e9),
        lanes=lanes,
    )


def _name(name: str | os.PathLike[str]) -> bytes:
    """A ring name or path as the C API takes it."""
    return os.fsencode(name)


def _release(handle: int) -> None:
    """Closes a ring handle that was garbage collected open."""
    _lib.lib().shmring_close(handle)


class Ring:
    """A ring: a segment that endpoints attach to, in this process or in others.

    Make one with create, open, open_or_create, create_anonymous or inherit.
    The keyword options mean what Go's Options fields of the same names mean;
    zero means the default (or, when opening, whatever the ring has). Close it
    when done (or use it as a context manager): that closes every endpoint
    attached through it.
    """

    def __init__(self, handle: int) -> None:
        """Wraps a ring handle of the C API; use the class methods instead."""
        self._handle = handle
        self._lib = _lib.lib()
        self._finalizer = weakref.finalize(self, _release, handle)
        self._kind = Kind(check(self._lib.shmring_kind(handle)))
        self._max_message = check(self._lib.shmring_max_message(handle))
        self._capacity = check(self._lib.shmring_capacity(handle))

    @classmethod
    def _make(cls, fn_name: str, name: bytes | None, opts: _lib.Options) -> Ring:
        """Calls the C constructor fn_name (with name unless None) and wraps its handle."""
        out = ctypes.c_uint64()
        fn = getattr(_lib.lib(), fn_name)
        if name is None:
            check(fn(ctypes.byref(opts), ctypes.byref(out)))
        else:
            check(fn(name, ctypes.byref(opts), ctypes.byref(out)))
        return cls(out.value)

    @classmethod
    def create(
        cls,
        name: str | os.PathLike[str],
        kind: Kind | str | int = Kind.SPSC,
        size: int = 0,
        wait: Wait | str | int = Wait.ADAPTIVE,
        slot_size: int = 0,
        participants: int = 0,
        mode: int = 0,
        watch_parent: bool = False,
        spin_budget: float | None = None,
        lanes: int = 0,
    ) -> Ring:
        """Creates a named ring: a bare name is a file in /dev/shm, a name with '/' a path.

        Raises Exists if the name is taken.
        """
        opts = _options(kind, size, wait, slot_size, participants, mode, watch_parent, spin_budget, lanes)
        return cls._make("shmring_create", _name(name), opts)

    @classmethod
    def open(
        cls,
        name: str | os.PathLike[str],
        kind: Kind | str | int = Kind.SPSC,
        size: int = 0,
        wait: Wait | str | int = Wait.ADAPTIVE,
        slot_size: int = 0,
        participants: int = 0,
        mode: int = 0,
        watch_parent: bool = False,
        spin_budget: float | None = None,
        lanes: int = 0,
    ) -> Ring:
        """Opens and validates an existing named ring.

        Raises NotFound if there is none, Mismatch if it does not match the
        options, NotRing, Version or Corrupt if the file is not a sound ring.
        """
        opts = _options(kind, size, wait, slot_size, participants, mode, watch_parent, spin_budget, lanes)
        return cls._make("shmring_open", _name(name), opts)

    @classmethod
    def open_or_create(
        cls,
        name: str | os.PathLike[str],
        kind: Kind | str | int = Kind.SPSC,
        size: int = 0,
        wait: Wait | str | int = Wait.ADAPTIVE,
        slot_size: int = 0,
        participants: int = 0,
        mode: int = 0,
        watch_parent: bool = False,
        spin_budget: float | None = None,
        lanes: int = 0,
    ) -> Ring:
        """Opens the named ring, creating it if it does not exist."""
        opts = _options(kind, size, wait, slot_size, participants, mode, watch_parent, spin_budget, lanes)
        return cls._make("shmring_open_or_create", _name(name), opts)

    @classmethod
    def create_anonymous(
        cls,
        kind: Kind | str | int = Kind.SPSC,
        size: int = 0,
        wait: Wait | str | int = Wait.ADAPTIVE,
        slot_size: int = 0,
        participants: int = 0,
        spin_budget: float | None = None,
        lanes: int = 0,
    ) -> Ring:
        """Creates a ring with no name (a memfd), to hand to child processes."""
        opts = _options(kind, size, wait, slot_size, participants, 0, False, spin_budget, lanes)
        return cls._make("shmring_create_anonymous", None, opts)

    @classmethod
    def inherit(
        cls,
        key: str | RingToken,
        kind: Kind | str | int = Kind.SPSC,
        size: int = 0,
        wait: Wait | str | int = Wait.ADAPTIVE,
        slot_size: int = 0,
        participants: int = 0,
        spin_budget: float | None = None,
        lanes: int = 0,
    ) -> Ring:
        """Opens a ring the parent passed: with pass_to(key) or Go's Ring.Pass (a
        key), or with token() through multiprocessing (a RingToken).

        The ring watches the parent: once it has died, waits end with ParentDead.
        """
        if isinstance(key, RingToken):
            return key.open(
                kind=kind, size=size, wait=wait, slot_size=slot_size, participants=participants, lanes=lanes
            )
        opts = _options(kind, size, wait, slot_size, participants, 0, True, spin_budget, lanes)
        ring = cls._make("shmring_inherit", key.encode(), opts)
        # The descriptor is the ring's now: this process's children must not
        # be told of it (the library forgets the variable, as Go's Inherit does).
        os.environ.pop(ENV_PREFIX + key, None)
        return ring

    @staticmethod
    def unlink(name: str | os.PathLike[str]) -> None:
        """Removes a named ring; processes that have it open keep using it."""
        check(_lib.lib().shmring_unlink(_name(name)))

    @property
    def handle(self) -> int:
        """The C API handle; Closed once the ring is closed."""
        if not self._finalizer.alive:
            raise Closed("shmring: ring closed", ECLOSED)
        return self._handle

    @property
    def kind(self) -> Kind:
        """SPSC or MPMC."""
        return self._kind

    @property
    def max_message(self) -> int:
        """The largest message the ring takes, in bytes."""
        return self._max_message

    @property
    def capacity(self) -> int:
        """The ring's data capacity in bytes."""
        return self._capacity

    @property
    def closed(self) -> bool:
        """Whether close was called."""
        return not self._finalizer.alive

    def producer(self) -> Producer:
        """Attaches a synchronous producer (Busy if an SPSC ring has one)."""
        return Producer(self)

    def consumer(self, batch: int = DEFAULT_BATCH) -> Consumer:
        """Attaches a synchronous consumer (Busy if an SPSC ring has one).

        batch is the most messages iteration takes from the ring at once.
        """
        return Consumer(self, batch)

    def async_producer(self) -> AsyncProducer:
        """Attaches a producer for asyncio (see shmring.aio)."""
        from .aio import AsyncProducer

        return AsyncProducer(self)

    def async_consumer(self, batch: int = DEFAULT_BATCH, spin: float = 0.0) -> AsyncConsumer:
        """Attaches a consumer for asyncio (see shmring.aio).

        batch is the most messages it takes from the ring at once; the rest
        wait in this object for the next recv. On an MPMC ring, where each
        message goes to one consumer, batch=1 shares them out most evenly.
        spin is how long (seconds) a receive that finds the ring empty keeps
        trying, holding the loop, before it waits on the loop.
        """
        from .aio import AsyncConsumer

        return AsyncConsumer(self, batch, spin)

    def event(self, i: int) -> Event:
        """Event i (0 <= i < num_events()) of the ring's segment."""
        from .aio import Event

        return Event(self, i)

    def close_stream(self) -> None:
        """Ends the stream of an MPMC ring for good, from any process."""
        check(self._lib.shmring_close_stream(self.handle))

    def abort_stream(self, code: int) -> None:
        """Ends the stream with a reason, from any process.

        Consumers drain what was committed, then get Aborted (whose
        abort_code is code) instead of EndOfStream. code is from 1 to 2**30-1.
        """
        check(self._lib.shmring_abort_stream(self.handle, code))

    def abort_code(self) -> int:
        """The code of the abort that ended the stream; 0 when it was not aborted."""
        return check(self._lib.shmring_abort_code(self.handle))

    def pass_to(self, key: str) -> tuple[int, dict[str, str]]:
        """Prepares a child started with subprocess to inherit the ring under key.

        Returns (fd, env): start the child with pass_fds=(fd,) and env holding
        env's variable (say env={**os.environ, **env}), then close fd with
        os.close. The child calls Ring.inherit(key), or Go's shmring.Inherit(key).
        """
        buf = ctypes.create_string_buffer(256)
        fd = check(self._lib.shmring_pass_fd(self.handle, key.encode(), buf, len(buf)))
        name, sep, value = buf.value.decode().partition("=")
        if not sep:
            os.close(fd)
            raise ShmringError(f"shmring: pass {key!r}: the library gave no NAME=VALUE but {buf.value!r}")
        return fd, {name: value}

    def token(self, key: str = "RING") -> RingToken:
        """A picklable token that opens this ring in a multiprocessing child.

        Pass it in the Process's arguments (or through a Queue or Pipe); the
        child calls Ring.inherit(token). Close the token (or leave its with
        block) once the child has started.
        """
        fd, env = self.pass_to(key)
        return RingToken(key, fd, env)

    def close(self) -> None:
        """Closes the ring and every endpoint attached through it; idempotent."""
        if self._finalizer.detach() is None:
            return
        code = self._lib.shmring_close(self._handle)
        if code < 0 and code not in (ECLOSED, EINVAL):
            raise_code(code)

    def __enter__(self) -> Ring:
        """The ring itself; the with block closes it."""
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"max_message={self._max_message}"
        return f"<shmring.Ring {self._kind.name} {state}>"


class RingToken:
    """A ring passed to a multiprocessing child started with the 'spawn' start
    method: pass it in the Process's arguments; the child calls
    Ring.inherit(token) (or token.open()) once.

    Pickling it while the Process starts hands the segment's descriptor to the
    child at the same number (multiprocessing's pass_fds) and sets the
    variable that names it (SHMRING_FD_<key>) in this process's environment,
    which the child inherits when it is executed: the Go runtime in the
    library reads the environment a process was executed with, never a
    variable set afterwards, so the variable must be there at exec. Close the
    token (or leave its with block) once the child has started: that closes
    the descriptor here and removes the variable. Keys of tokens given to one
    child must differ. Any other pickling (a Queue, a Pipe, the 'forkserver'
    method, which runs children from a process executed earlier) raises
    ShmringError: name the ring instead (Ring.open in the child).
    """

    def __init__(self, key: str, fd: int, env: dict[str, str]) -> None:
        """Wraps the descriptor and variable that pass_to made; use Ring.token."""
        self.key = key
        self._fd: int | None = fd
        self._env = env

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        from multiprocessing import context, popen_spawn_posix

        if self._fd is None:
            raise Closed(f"shmring: token {self.key!r} already closed or used", ECLOSED)
        popen = context.get_spawning_popen()
        if not isinstance(popen, popen_spawn_posix.Popen):
            raise ShmringError(
                f"shmring: token {self.key!r}: a token goes to a child only in the arguments "
                "of a Process of the 'spawn' start method"
            )
        fd = popen.duplicate_for_child(self._fd)
        os.environ.update(self._env)
        return (_rebuild_token, (self.key, fd))

    def open(self, **options: Any) -> Ring:
        """Opens the ring in the child that received the token (at most once)."""
        if self._fd is None:
            raise Closed(f"shmring: token {self.key!r} already closed or used", ECLOSED)
        self._fd = None
        return Ring.inherit(self.key, **options)

    def close(self) -> None:
        """In the parent, after the start: closes the descriptor and removes the variable."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            for name, value in self._env.items():
                if os.environ.get(name) == value:
                    del os.environ[name]

    def __enter__(self) -> RingToken:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rebuild_token(key: str, fd: int) -> RingToken:
    """The token in the child: the descriptor and variable came with its start."""
    return RingToken(key, fd, {})


class _Endpoint:
    """What producers and consumers share: the handle, the ring, close, stats."""

    _open_fn = ""
    _close_fn = ""
    _stats_fn = ""

    def __init__(self, ring: Ring) -> None:
        self._lib = ring._lib
        self.ring = ring
        out = ctypes.c_uint64()
        check(getattr(self._lib, self._open_fn)(ring.handle, ctypes.byref(out)))
        self._handle: int | None = out.value

    @property
    def handle(self) -> int:
        """The C API handle; Closed once the endpoint is closed."""
        if self._handle is None:
            raise Closed("shmring: endpoint closed", ECLOSED)
        return self._handle

    @property
    def closed(self) -> bool:
        """Whether close was called."""
        return self._handle is None

    def stats(self) -> Stats:
        """The endpoint's counters."""
        out = _lib.Stats()
        check(getattr(self._lib, self._stats_fn)(self.handle, ctypes.byref(out)))
        return Stats(*(getattr(out, f) for f, _ in _lib.Stats._fields_))

    def close(self) -> None:
        """Detaches the endpoint; idempotent. Closing a ring closes its endpoints."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        code = getattr(self._lib, self._close_fn)(handle)
        if code < 0 and code not in (ECLOSED, EINVAL):
            raise_code(code)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_buffer(data: bytes | bytearray | memoryview) -> bytes | ctypes.Array[ctypes.c_char]:
    """Something ctypes passes as a void pointer to data's bytes."""
    if type(data) is bytes:
        return data
    if isinstance(data, bytearray) and len(data):
        return (ctypes.c_char * len(data)).from_buffer(data)
    return bytes(data)


class Producer(_Endpoint):
    """The sending end. On an SPSC ring, close ends the stream: the consumer
    drains what was sent, then gets EndOfStream."""

    _open_fn = "shmring_producer_open"
    _close_fn = "shmring_producer_close"
    _stats_fn = "shmring_producer_stats"

    def send(self, data: bytes | bytearray | memoryview, timeout: float | None = None) -> None:
        """Sends one message, waiting up to timeout seconds for room (Timeout)."""
        check(self._lib.shmring_send(self.handle, _as_buffer(data), len(data), timeout_ns(timeout)))

    def try_send(self, data: bytes | bytearray | memoryview) -> None:
        """Sends one message if there is room now; raises Full otherwise."""
        check(self._lib.shmring_try_send(self.handle, _as_buffer(data), len(data)))

    def send_batch(self, msgs: Iterable[bytes | bytearray | memoryview], timeout: float | None = None) -> int:
        """Sends the messages in order, publishing them together where there is
        room, and returns how many were sent: all of them, or fewer when the
        timeout ran out. An error after some were sent is raised with the count
        as its attribute sent.
        """
        parts = [m if type(m) is bytes else bytes(m) for m in msgs]
        sent = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while sent < len(parts):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            n = self._send_some(parts, sent, timeout_ns(left))
            if n > 0:
                sent += n
                continue
            if deadline is not None and sent > 0 and n in (0, EFULL, ETIMEOUT):
                return sent
            err = error_for(n if n < 0 else ETIMEOUT)
            err.sent = sent  # type: ignore[attr-defined]
            raise err
        return sent

    def _send_some(self, parts: list[bytes], start: int, timeout: int) -> int:
        """One shmring_send_batch call over parts[start:]; its result."""
        chunk = parts[start:]
        joined = b"".join(chunk)
        base = ctypes.cast(ctypes.c_char_p(joined), ctypes.c_void_p).value or 0
        n = len(chunk)
        addrs = (ctypes.c_void_p * n)()
        lens = (ctypes.c_size_t * n)()
        off = 0
        for i, m in enumerate(chunk):
            addrs[i] = base + off
            lens[i] = len(m)
            off += len(m)
        return self._lib.shmring_send_batch(self.handle, addrs, lens, n, timeout)

    def fileno(self) -> int:
        """The readiness descriptor: readable while the producer can send (owned by the library)."""
        return check(self._lib.shmring_producer_fd(self.handle))


class Consumer(_Endpoint):
    """The receiving end. recv raises EndOfStream (an EOFError) once the stream
    has ended and is drained; iteration stops there."""

    _open_fn = "shmring_consumer_open"
    _close_fn = "shmring_consumer_close"
    _stats_fn = "shmring_consumer_stats"

    def __init__(self, ring: Ring, batch: int = DEFAULT_BATCH) -> None:
        super().__init__(ring)
        if batch < 1:
            raise ValueError(f"shmring: batch {batch} < 1")
        self._batch = batch
        self._buf = ctypes.create_string_buffer(max(ring.max_message, 1))
        self._bbuf = ctypes.create_string_buffer(max(ring.max_message, 1 << 16))
        self._lens = (ctypes.c_size_t * batch)()

    def recv(self, timeout: float | None = None) -> bytes:
        """Receives one message, waiting up to timeout seconds (Timeout)."""
        n = self._lib.shmring_recv(self.handle, self._buf, len(self._buf), timeout_ns(timeout))
        if n < 0:
            raise_code(n)
        return ctypes.string_at(self._buf, n)

    def try_recv(self) -> bytes:
        """Receives one message if there is one now; raises Empty otherwise."""
        n = self._lib.shmring_try_recv(self.handle, self._buf, len(self._buf))
        if n < 0:
            raise_code(n)
        return ctypes.string_at(self._buf, n)

    def recv_batch(self, max: int | None = None, timeout: float | None = None) -> list[bytes]:
        """Receives up to max messages (default: the consumer's batch) that are
        committed, waiting up to timeout seconds for the first (Timeout; with
        timeout=0, Empty)."""
        k = self._batch if max is None else max
        if k < 1:
            raise ValueError(f"shmring: recv_batch max {k} < 1")
        if k > len(self._lens):
            self._lens = (ctypes.c_size_t * k)()
        n = self._lib.shmring_recv_batch(self.handle, self._bbuf, len(self._bbuf), self._lens, k, timeout_ns(timeout))
        if n < 0:
            raise_code(n)
        return self._split(n)

    def _split(self, n: int) -> list[bytes]:
        """The n messages that the last recv_batch packed into the batch buffer."""
        lens = self._lens[:n]
        raw = ctypes.string_at(self._bbuf, sum(lens))
        out = []
        off = 0
        for m in lens:
            out.append(raw[off : off + m])
            off += m
        return out

    def fileno(self) -> int:
        """The readiness descriptor: readable while the consumer can make progress
        (owned by the library; re-armed by a receive that finds the ring empty)."""
        return check(self._lib.shmring_consumer_fd(self.handle))

    def __iter__(self) -> Iterator[bytes]:
        """The messages until the end of the stream, taken in batches."""
        while True:
            try:
                batch = self.recv_batch()
            except EndOfStream:
                return
            yield from batch


def num_events() -> int:
    """The number of events in a ring's segment."""
    return check(_lib.lib().shmring_num_events())
