"""The asyncio API: send, recv, async for, cancellation, timeouts, events."""

import asyncio
import threading
import time
import unittest

from support import remove_ring, ring_name  # first: it puts the package on sys.path

import shmring  # noqa: E402


def readers(loop: asyncio.AbstractEventLoop) -> set[int]:
    """The descriptors the loop watches for reading."""
    selector = loop._selector  # type: ignore[attr-defined]
    return {key.fd for key in selector.get_map().values() if key.data[0] is not None}


class AsyncTest(unittest.IsolatedAsyncioTestCase):
    """Async endpoints on an anonymous SPSC ring; every test ends with no reader left on the loop."""

    async def asyncSetUp(self) -> None:
        self.ring = shmring.Ring.create_anonymous(size=1 << 16)
        self.addCleanup(self.ring.close)
        self.loop = asyncio.get_running_loop()
        # The test runner's debug mode reports steps slower than this; on a
        # loaded machine a descheduled process makes any step slow.
        self.loop.slow_callback_duration = 1.0
        self.baseline = readers(self.loop)

    def assertNoReaders(self) -> None:
        """Asserts that the loop watches no descriptor beyond those it had at set-up."""
        self.assertEqual(readers(self.loop), self.baseline)

    async def test_send_recv_and_async_for(self) -> None:
        p, c = self.ring.async_producer(), self.ring.async_consumer(batch=16)
        n = 5000

        async def produce() -> None:
            for i in range(n):
                await p.send(i.to_bytes(8, "little") * 10)
            p.close()

        task = asyncio.create_task(produce())
        first = await c.recv()
        got = [first] + [m async for m in c]
        await task
        self.assertEqual(got, [i.to_bytes(8, "little") * 10 for i in range(n)])
        with self.assertRaises(EOFError):
            await c.recv()
        self.assertNoReaders()

    async def test_async_for_ends_with_an_abort(self) -> None:
        p, c = self.ring.async_producer(), self.ring.async_consumer(batch=16)
        await p.send(b"one")
        self.ring.abort_stream(7)
        got = []
        with self.assertRaises(shmring.Aborted) as cm:
            async for m in c:
                got.append(m)
        self.assertEqual(got, [b"one"])
        self.assertEqual(cm.exception.abort_code, 7)
        p.close()
        self.assertNoReaders()

    async def test_batches(self) -> None:
        p, c = self.ring.async_producer(), self.ring.async_consumer()
        msgs = [bytes([i % 256]) * (i % 700) for i in range(3000)]

        async def consume() -> list[bytes]:
            out: list[bytes] = []
            while True:
                try:
                    out.extend(await c.recv_batch(max=100))
                except shmring.EndOfStream:
                    return out

        task = asyncio.create_task(consume())
        self.assertEqual(await p.send_batch(msgs), len(msgs))
        p.close()
        self.assertEqual(await task, msgs)
        self.assertNoReaders()

    async def test_cancel_recv_leaves_ring_consistent(self) -> None:
        p, c = self.ring.producer(), self.ring.async_consumer()
        for round_ in range(20):
            task = asyncio.create_task(c.recv())
            await asyncio.sleep(0.005)
            self.assertFalse(task.done())
            self.assertIn(c.fileno(), readers(self.loop))
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            self.assertNoReaders()
            p.send(round_.to_bytes(2, "little"))
            self.assertEqual(await asyncio.wait_for(c.recv(), 5), round_.to_bytes(2, "little"))
        self.assertNoReaders()

    async def test_cancel_between_messages_loses_nothing(self) -> None:
        p, c = self.ring.producer(), self.ring.async_consumer(batch=64)
        n = 20000

        def send_all() -> None:
            for i in range(n):
                p.send(i.to_bytes(4, "little"))
            p.close()

        sender = threading.Thread(target=send_all)
        sender.start()
        got: list[int] = []
        while len(got) < n:
            task = asyncio.create_task(c.recv())
            # Cancel some receives at random points: those that finish count.
            await asyncio.sleep(0)
            if len(got) % 7 == 3:
                task.cancel()
            try:
                got.append(int.from_bytes(await task, "little"))
            except asyncio.CancelledError:
                pass
        sender.join(10)
        self.assertEqual(got, list(range(n)))
        self.assertNoReaders()

    async def test_cancel_send_leaves_ring_consistent(self) -> None:
        p, c = self.ring.async_producer(), self.ring.consumer()
        big = b"q" * 7
        sent = 0
        while True:
            try:
                p.try_send(big)
            except shmring.Full:
                break
            sent += 1
        task = asyncio.create_task(p.send(b"blocked"))
        await asyncio.sleep(0.01)
        self.assertFalse(task.done())
        self.assertIn(p.fileno(), readers(self.loop))
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        self.assertNoReaders()
        for _ in range(sent):
            self.assertEqual(c.recv(timeout=1), big)
        with self.assertRaises(shmring.Empty):
            c.try_recv()
        await p.send(b"after")
        self.assertEqual(c.recv(timeout=1), b"after")

    async def test_spinning_consumer(self) -> None:
        p, c = self.ring.producer(), self.ring.async_consumer(batch=8, spin=200e-6)
        n = 3000

        def send_all() -> None:
            for i in range(n):
                p.send(i.to_bytes(4, "little"))
                if i % 100 == 0:
                    time.sleep(0.001)
            p.close()

        sender = threading.Thread(target=send_all)
        sender.start()
        got = [int.from_bytes(m, "little") async for m in c]
        sender.join(10)
        self.assertEqual(got, list(range(n)))
        self.assertNoReaders()

    async def test_busy_stream_lets_the_loop_run(self) -> None:
        ring = shmring.Ring.create_anonymous(size=1 << 20)
        self.addCleanup(ring.close)
        p, c = ring.async_producer(), ring.async_consumer(batch=64)
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                await asyncio.sleep(0)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        n = 10000  # 240 KB of records: the ring never fills, nothing ever waits
        for i in range(n):
            await p.send(i.to_bytes(8, "little"))
        self.assertGreaterEqual(ticks, n // shmring.aio.YIELD_EVERY - 1)
        p.close()
        before = ticks
        got = [m async for m in c]
        self.assertEqual(len(got), n)
        self.assertGreaterEqual(ticks - before, n // 64 - 1)
        stop = True
        await task

    async def test_timeouts(self) -> None:
        c = self.ring.async_consumer()
        t0 = time.monotonic()
        with self.assertRaises(shmring.Timeout):
            await c.recv(timeout=0.05)
        self.assertGreaterEqual(time.monotonic() - t0, 0.04)
        self.assertNoReaders()

    async def test_one_waiter_at_a_time(self) -> None:
        c = self.ring.async_consumer()
        first = asyncio.create_task(c.recv())
        await asyncio.sleep(0.005)
        with self.assertRaises(RuntimeError):
            await c.recv()
        first.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await first

    async def test_close_wakes_waiter(self) -> None:
        c = self.ring.async_consumer()
        task = asyncio.create_task(c.recv())
        await asyncio.sleep(0.005)
        c.close()
        with self.assertRaises(shmring.Closed):
            await task
        self.assertNoReaders()

    async def test_producer_from_thread_wakes_loop(self) -> None:
        p, c = self.ring.producer(), self.ring.async_consumer()

        def later() -> None:
            time.sleep(0.05)
            p.send(b"wake")
            p.close()

        threading.Thread(target=later).start()
        self.assertEqual(await asyncio.wait_for(c.recv(), 5), b"wake")
        self.assertEqual([m async for m in c], [])


class AsyncEventTest(unittest.IsolatedAsyncioTestCase):
    """Events awaited on the loop, set through another handle of a named ring."""

    async def asyncSetUp(self) -> None:
        asyncio.get_running_loop().slow_callback_duration = 1.0
        self.name = ring_name("event")
        self.addCleanup(remove_ring, self.name)
        self.a = shmring.Ring.create(self.name)
        self.b = shmring.Ring.open(self.name)
        self.addCleanup(self.a.close)
        self.addCleanup(self.b.close)

    async def test_wait_set_clear(self) -> None:
        loop = asyncio.get_running_loop()
        base = readers(loop)
        ev = self.b.event(1)
        waiter = asyncio.create_task(ev.wait())
        await asyncio.sleep(0.01)
        self.assertFalse(waiter.done())
        threading.Thread(target=self.a.event(1).set).start()
        self.assertTrue(await asyncio.wait_for(waiter, 5))
        self.assertTrue(ev.is_set())
        self.assertTrue(await ev.wait())  # already set
        ev.clear()
        self.assertFalse(await ev.wait(timeout=0.02))
        self.assertEqual(readers(loop), base)

    async def test_cancel_wait(self) -> None:
        loop = asyncio.get_running_loop()
        base = readers(loop)
        waiter = asyncio.create_task(self.b.event(5).wait())
        await asyncio.sleep(0.01)
        waiter.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await waiter
        self.assertEqual(readers(loop), base)
        self.a.event(5).set()
        self.assertTrue(await asyncio.wait_for(self.b.event(5).wait(), 5))

    async def test_many_waiters(self) -> None:
        waiters = [asyncio.create_task(self.b.event(0).wait()) for _ in range(5)]
        await asyncio.sleep(0.01)
        self.a.event(0).set()
        self.assertEqual(await asyncio.wait_for(asyncio.gather(*waiters), 5), [True] * 5)


if __name__ == "__main__":
    unittest.main()
