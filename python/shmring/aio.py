"""asyncio endpoints and events, built on loop.add_reader and the try-calls.

Nothing here blocks the event loop or uses a thread. A coroutine that must
wait registers the library's readiness descriptor with loop.add_reader, and
removes it again when it wakes, is cancelled or fails, so that an endpoint
nobody waits on costs the loop nothing. The descriptor contract of the C API
is followed exactly: a consumer drains with try-receives until one finds the
ring empty (SHMRING_EEMPTY), which re-arms the descriptor, before it waits on
it again; a producer waits only after a try-send found the ring full
(SHMRING_EFULL).

Cancelling a coroutine that waits leaves the ring as it was: the wait holds
nothing of the ring, and what a receive took from the ring is kept in the
consumer for the next receive.

One coroutine at a time may wait on an endpoint (the endpoints are not safe
for concurrent use); a second gets RuntimeError.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import time
from typing import AsyncIterator, Iterable

from .errors import Closed, EndOfStream, raise_code
from .ring import (
    ECLOSED,
    EEMPTY,
    EFULL,
    ETIMEOUT,
    Consumer,
    Producer,
    Ring,
    check,
    num_events,
    timeout_ns,
)

__all__ = ["AsyncProducer", "AsyncConsumer", "Event"]


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _deadline(timeout: float | None) -> float | None:
    """The loop time at which a timeout in seconds runs out (None: never)."""
    return None if timeout is None else asyncio.get_running_loop().time() + timeout


def _left(deadline: float | None) -> float | None:
    """The seconds left until deadline (None: for ever)."""
    return None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())


class _Readiness:
    """Waits for one descriptor to become readable, one waiter at a time."""

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = -1

    async def wait(self, fd: int) -> None:
        """Returns once fd is readable; removes the reader however it ends."""
        if self._waiter is not None:
            raise RuntimeError("shmring: another coroutine is already waiting on this endpoint")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._waiter, self._loop, self._fd = fut, loop, fd
        loop.add_reader(fd, _wake, fut)
        try:
            await fut
        finally:
            self._unregister()

    def _unregister(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
        self._waiter, self._loop, self._fd = None, None, -1

    def abort(self, exc: BaseException) -> None:
        """Ends a pending wait with exc, and removes its reader at once: the
        endpoint is being closed, and its descriptor with it, whose number
        the next descriptor opened may take."""
        fut = self._waiter
        self._unregister()
        if fut is not None and not fut.done():
            fut.set_exception(exc)


#: How many messages an async producer sends, without having to wait, before
#: it lets the loop run once.
YIELD_EVERY = 256


class AsyncProducer(Producer):
    """A producer for asyncio: send and send_batch are coroutines.

    try_send, stats, fileno and close are the synchronous Producer's.
    It waits for room on the producer's readiness descriptor, after a
    try-send found the ring full (SHMRING_EFULL), which re-armed it. A
    producer that never has to wait lets the loop run once every
    YIELD_EVERY messages, so that a fast stream does not starve the loop's
    other tasks.
    """

    def __init__(self, ring: Ring) -> None:
        super().__init__(ring)
        self._ready = _Readiness()
        self._fd = Producer.fileno(self)
        self._unyielded = 0  # messages sent since the coroutine last suspended

    async def _pace(self) -> None:
        """Lets the loop run if YIELD_EVERY messages went without a suspension."""
        if self._unyielded >= YIELD_EVERY:
            self._unyielded = 0
            await asyncio.sleep(0)

    async def send(self, data: bytes | bytearray | memoryview, timeout: float | None = None) -> None:  # type: ignore[override]
        """Sends one message, waiting on the loop (up to timeout seconds) for room."""
        if type(data) is not bytes:
            data = bytes(data)
        await self._pace()
        try_send = self._lib.shmring_try_send
        deadline = _deadline(timeout)
        while True:
            code = try_send(self.handle, data, len(data))
            if code == EFULL:
                await self._wait_room(_left(deadline))
                self._unyielded = 0
                continue
            check(code)
            self._unyielded += 1
            return

    async def _wait_room(self, timeout: float | None) -> None:
        """Returns once the descriptor says there may be room; Timeout after timeout seconds."""
        if timeout is None:
            await self._ready.wait(self._fd)
            return
        try:
            await asyncio.wait_for(self._ready.wait(self._fd), timeout)
        except asyncio.TimeoutError:
            raise_code(ETIMEOUT)

    async def send_batch(self, msgs: Iterable[bytes | bytearray | memoryview], timeout: float | None = None) -> int:  # type: ignore[override]
        """Sends the messages in order, as many at a time as there is room for,
        waiting on the loop for room; returns how many were sent (all of them,
        unless the timeout ran out: then Timeout if none was)."""
        await self._pace()
        parts = [m if type(m) is bytes else bytes(m) for m in msgs]
        sent = 0
        deadline = _deadline(timeout)
        while sent < len(parts):
            n = self._send_some(parts, sent, 0)
            if n > 0:
                sent += n
                self._unyielded += n
                continue
            if n != EFULL:
                check(n)
            # Re-arm the descriptor with a try-send, as the contract asks
            # (whether a batch's EFULL re-arms it, the contract does not say).
            code = self._lib.shmring_try_send(self.handle, parts[sent], len(parts[sent]))
            if code == 0:
                sent += 1
                self._unyielded += 1
                continue
            if code != EFULL:
                check(code)
            self._unyielded = 0
            try:
                await self._wait_room(_left(deadline))
            except TimeoutError:
                if sent == 0:
                    raise
                return sent
        return sent

    def close(self) -> None:
        """Detaches the producer (ending an SPSC stream); a waiting send gets Closed."""
        self._ready.abort(Closed("shmring: producer closed", ECLOSED))
        super().close()


class AsyncConsumer(Consumer):
    """A consumer for asyncio: recv and recv_batch are coroutines, and
    ``async for msg in consumer`` reads to the end of the stream.

    It takes up to batch messages from the ring with one call and keeps the
    rest for the next receive. With spin > 0, a receive that finds the ring
    empty keeps trying for up to spin seconds before it waits on the loop:
    that holds the loop for as long, and saves the wake-up (a round trip
    through the library's readiness goroutine and the loop's poll) when the
    answer is that close. try_recv, stats, fileno and close are the
    synchronous Consumer's (try_recv returns a kept message first).
    """

    def __init__(self, ring: Ring, batch: int, spin: float = 0.0) -> None:
        super().__init__(ring, batch)
        self._spin = spin
        self._ready = _Readiness()
        self._fd = Consumer.fileno(self)
        self._kept: collections.deque[bytes] = collections.deque()
        # Set by a take from the ring that did not wait: the next one first
        # lets the loop run, so that a busy stream never starves other tasks.
        self._yield_due = False

    def try_recv(self) -> bytes:
        """A kept message, or one from the ring if there is one now; Empty otherwise."""
        if self._kept:
            return self._kept.popleft()
        return super().try_recv()

    def _fill(self) -> int:
        """Takes what the ring has now into the kept messages; returns 0 or a code.

        It ends with a try-receive that found the ring empty (EEMPTY, which
        re-arms the descriptor) whenever it returns EEMPTY.
        """
        h = self.handle
        if self._batch == 1:
            n = self._lib.shmring_try_recv(h, self._buf, len(self._buf))
            if n >= 0:
                self._kept.append(ctypes.string_at(self._buf, n))
                return 0
            return n
        n = self._lib.shmring_recv_batch(h, self._bbuf, len(self._bbuf), self._lens, self._batch, 0)
        if n > 0:
            self._kept.extend(self._split(n))
            return 0
        return n  # a batch with a timeout of 0 finds an empty ring with EEMPTY

    async def _wait_data(self, timeout: float | None) -> None:
        """Returns once the descriptor says there may be messages; Timeout after timeout seconds."""
        if timeout is None:
            await self._ready.wait(self._fd)
            return
        try:
            await asyncio.wait_for(self._ready.wait(self._fd), timeout)
        except asyncio.TimeoutError:
            raise_code(ETIMEOUT)

    async def _more(self, timeout: float | None) -> None:
        """Returns once messages are kept; raises EndOfStream, Timeout or the ring's error.

        Between two takes that did not wait it lets the loop run once, so the
        loop's other tasks wait at most for one batch.
        """
        if self._yield_due:
            self._yield_due = False
            await asyncio.sleep(0)
            if self._kept:
                return
        waited = False
        deadline = _deadline(timeout)
        while True:
            code = self._fill()
            if code == 0:
                self._yield_due = not waited
                return
            if code != EEMPTY:
                raise_code(code)
            if not waited and self._spin > 0:
                code = self._spin_fill()
                if code == 0:
                    return
                if code != EEMPTY:
                    raise_code(code)
            await self._wait_data(_left(deadline))
            waited = True

    def _spin_fill(self) -> int:
        """Tries to take messages for up to spin seconds, holding the loop.
        Returns 0 (messages kept), EEMPTY (the last try found the ring empty,
        which re-armed the descriptor) or another code."""
        end = time.perf_counter() + self._spin
        code = EEMPTY
        while code == EEMPTY and time.perf_counter() < end:
            code = self._fill()
        return code

    async def recv(self, timeout: float | None = None) -> bytes:  # type: ignore[override]
        """Receives one message, waiting on the loop (up to timeout seconds)."""
        if not self._kept:
            await self._more(timeout)
        return self._kept.popleft()

    async def recv_batch(self, max: int | None = None, timeout: float | None = None) -> list[bytes]:  # type: ignore[override]
        """Receives the messages available now, at least one, at most max."""
        if not self._kept:
            await self._more(timeout)
        k = len(self._kept) if max is None else min(max, len(self._kept))
        return [self._kept.popleft() for _ in range(k)]

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._kept:
            return self._kept.popleft()
        try:
            await self._more(None)
        except EndOfStream:
            raise StopAsyncIteration from None
        return self._kept.popleft()

    def close(self) -> None:
        """Detaches the consumer; a waiting receive gets Closed. Kept messages are dropped."""
        self._ready.abort(Closed("shmring: consumer closed", ECLOSED))
        self._kept.clear()
        super().close()


class Event:
    """Event i of a ring's segment, shared by every process that has the ring
    open: the counterpart of multiprocessing.Event. wait is a coroutine;
    wait_blocking the synchronous wait.
    """

    def __init__(self, ring: Ring, i: int) -> None:
        """Event i of ring; use Ring.event."""
        if not 0 <= i < num_events():
            raise IndexError(f"shmring: event {i} outside [0, {num_events()})")
        self.ring = ring
        self.index = i
        self._lib = ring._lib

    def set(self) -> None:
        """Sets the event, waking every waiter in every process."""
        check(self._lib.shmring_event_set(self.ring.handle, self.index))

    def clear(self) -> None:
        """Clears the event."""
        check(self._lib.shmring_event_clear(self.ring.handle, self.index))

    def is_set(self) -> bool:
        """Whether the event is set."""
        return check(self._lib.shmring_event_is_set(self.ring.handle, self.index)) == 1

    def wait_blocking(self, timeout: float | None = None) -> bool:
        """Blocks the calling thread until the event is set; False if timeout ran out."""
        code = self._lib.shmring_event_wait(self.ring.handle, self.index, timeout_ns(timeout))
        if code == ETIMEOUT:
            return False
        check(code)
        return True

    async def wait(self, timeout: float | None = None) -> bool:
        """Waits on the loop until the event is set; False if timeout ran out
        (as multiprocessing.Event.wait). Raises Closed if the ring closes."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            h = self.ring.handle
            # A fresh descriptor each round: one that fired for a set that a
            # clear undid may stay readable.
            fd = check(self._lib.shmring_event_fd(h, self.index))
            try:
                if self.is_set():
                    return True
                fut = loop.create_future()
                loop.add_reader(fd, _wake, fut)
                try:
                    if deadline is None:
                        await fut
                    else:
                        await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
                except TimeoutError:
                    return self.is_set()
                finally:
                    loop.remove_reader(fd)
            finally:
                self._release_fd(h, fd)

    def _release_fd(self, h: int, fd: int) -> None:
        code = self._lib.shmring_event_fd_close(h, fd)
        if code < 0 and code != ECLOSED:
            raise_code(code)
