"""The synchronous API: rings, endpoints, batches, end of stream, errors."""

import os
import threading
import time
import unittest

from support import remove_ring, ring_name  # first: it puts the package on sys.path

import shmring  # noqa: E402


class AnonymousRingTest(unittest.TestCase):
    """The synchronous API on an anonymous SPSC ring of 64 KiB."""

    def setUp(self) -> None:
        self.ring = shmring.Ring.create_anonymous(size=1 << 16)
        self.addCleanup(self.ring.close)

    def test_send_recv_in_order_then_eof(self) -> None:
        with self.ring.producer() as p, self.ring.consumer() as c:
            msgs = [b"hello", b"", bytearray(b"shared"), memoryview(b"memory")]
            for m in msgs:
                p.send(m)
            p.close()
            self.assertEqual([c.recv(timeout=1) for _ in msgs], [bytes(m) for m in msgs])
            with self.assertRaises(EOFError):
                c.recv(timeout=1)
            with self.assertRaises(shmring.EndOfStream):
                c.try_recv()

    def test_abort_stream(self) -> None:
        with self.ring.producer() as p, self.ring.consumer() as c:
            p.send(b"last")
            self.assertEqual(self.ring.abort_code(), 0)
            self.ring.abort_stream(130)
            p.close()  # a producer's close leaves the abort
            self.assertEqual(c.recv(timeout=1), b"last")
            with self.assertRaises(shmring.Aborted) as cm:
                c.recv(timeout=1)
            self.assertEqual(cm.exception.abort_code, 130)
            self.assertNotIsInstance(cm.exception, EOFError)
            self.assertEqual(self.ring.abort_code(), 130)
            with self.assertRaises(shmring.InvalidArgument):
                self.ring.abort_stream(0)

    def test_try_calls(self) -> None:
        p, c = self.ring.producer(), self.ring.consumer()
        with self.assertRaises(shmring.Empty):
            c.try_recv()
        msg = b"x" * 1000
        sent = 0
        with self.assertRaises(shmring.Full):
            while True:
                p.try_send(msg)
                sent += 1
        self.assertGreater(sent, 10)
        self.assertLessEqual(sent * len(msg), self.ring.capacity)
        for _ in range(3):
            self.assertEqual(c.try_recv(), msg)
        p.try_send(msg)  # room again
        got = 2
        while True:
            try:
                self.assertEqual(c.try_recv(), msg)
            except shmring.Empty:
                break
            got += 1
        self.assertEqual(got, sent)

    def test_timeouts(self) -> None:
        p, c = self.ring.producer(), self.ring.consumer()
        t0 = time.monotonic()
        with self.assertRaises(shmring.Timeout):
            c.recv(timeout=0.05)
        self.assertGreaterEqual(time.monotonic() - t0, 0.04)
        with self.assertRaises(TimeoutError):
            c.recv_batch(timeout=0.01)
        while True:
            try:
                p.try_send(b"y" * 4000)
            except shmring.Full:
                break
        with self.assertRaises(shmring.Timeout):
            p.send(b"y" * 4000, timeout=0.02)

    def test_batches(self) -> None:
        p, c = self.ring.producer(), self.ring.consumer(batch=32)
        msgs = [i.to_bytes(4, "little") * (i % 5) for i in range(100)]
        self.assertEqual(p.send_batch(msgs), 100)
        got: list[bytes] = []
        while len(got) < 100:
            batch = c.recv_batch(timeout=1)
            self.assertLessEqual(len(batch), 32)
            got.extend(batch)
        self.assertEqual(got, msgs)
        with self.assertRaises(shmring.Empty):
            c.recv_batch(timeout=0)

    def test_send_batch_waits_for_room(self) -> None:
        p, c = self.ring.producer(), self.ring.consumer()
        msgs = [os.urandom(500) for _ in range(1000)]  # several rings' worth
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.extend(c))
        reader.start()
        self.assertEqual(p.send_batch(msgs, timeout=10), len(msgs))
        p.close()
        reader.join(10)
        self.assertEqual(got, msgs)

    def test_send_batch_timeout_returns_count(self) -> None:
        p = self.ring.producer()
        msgs = [b"z" * 1000] * 200
        sent = p.send_batch(msgs, timeout=0.02)
        self.assertGreater(sent, 0)
        self.assertLess(sent, len(msgs))
        with self.assertRaises(shmring.Full):
            p.send_batch(msgs, timeout=0)

    def test_too_large(self) -> None:
        p = self.ring.producer()
        with self.assertRaises(shmring.TooLarge):
            p.send(b"a" * (self.ring.max_message + 1))
        p.send(b"a" * self.ring.max_message)
        c = self.ring.consumer()
        self.assertEqual(len(c.recv(timeout=1)), self.ring.max_message)

    def test_busy_and_closed(self) -> None:
        p = self.ring.producer()
        with self.assertRaises(shmring.Busy):
            self.ring.producer()
        p.close()
        p.close()  # idempotent
        with self.assertRaises(shmring.Closed):
            p.send(b"late")
        c = self.ring.consumer()
        self.ring.close()
        self.ring.close()
        with self.assertRaises(shmring.Closed):
            c.recv(timeout=0)
        with self.assertRaises(shmring.Closed):
            self.ring.producer()
        c.close()

    def test_close_ends_a_blocked_recv(self) -> None:
        c = self.ring.consumer()
        errs: list[BaseException] = []

        def reader() -> None:
            try:
                c.recv()
            except shmring.ShmringError as e:
                errs.append(e)

        t = threading.Thread(target=reader)
        t.start()
        time.sleep(0.1)
        self.ring.close()
        t.join(5)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(errs), 1)
        self.assertIsInstance(errs[0], shmring.Closed)

    def test_stats(self) -> None:
        p, c = self.ring.producer(), self.ring.consumer()
        for _ in range(7):
            p.send(b"12345")
        for _ in range(7):
            c.recv()
        self.assertEqual(p.stats().msgs_sent, 7)
        self.assertEqual(p.stats().bytes_sent, 35)
        self.assertEqual(c.stats().msgs_received, 7)
        self.assertEqual(c.stats().bytes_received, 35)

    def test_properties(self) -> None:
        self.assertEqual(self.ring.kind, shmring.Kind.SPSC)
        self.assertEqual(self.ring.capacity, 1 << 16)
        self.assertEqual(self.ring.max_message, (1 << 16) - 16)
        self.assertIn("SPSC", repr(self.ring))


class NamedRingTest(unittest.TestCase):
    """Named rings: create, open, mismatch, unlink, MPMC, events."""

    def setUp(self) -> None:
        self.name = ring_name("named")
        self.addCleanup(remove_ring, self.name)

    def test_create_open_unlink(self) -> None:
        with shmring.Ring.create(self.name, size=8192) as a:
            self.assertTrue(os.path.exists(f"/dev/shm/{self.name}"))
            self.assertEqual(os.stat(f"/dev/shm/{self.name}").st_mode & 0o777, 0o600)
            with self.assertRaises(shmring.Exists):
                shmring.Ring.create(self.name)
            with shmring.Ring.open(self.name) as b, shmring.Ring.open_or_create(self.name) as c:
                self.assertEqual(b.capacity, 8192)
                a.producer().send(b"across handles")
                self.assertEqual(c.consumer().recv(timeout=1), b"across handles")
                with self.assertRaises(shmring.Mismatch):
                    shmring.Ring.open(self.name, size=1 << 20)
                with self.assertRaises(shmring.Mismatch):
                    shmring.Ring.open(self.name, kind="mpmc")
            shmring.Ring.unlink(self.name)
        with self.assertRaises(shmring.NotFound):
            shmring.Ring.open(self.name)
        with self.assertRaises(FileNotFoundError):
            shmring.Ring.unlink(self.name)

    def test_bad_name(self) -> None:
        with self.assertRaises(shmring.ShmringError):
            shmring.Ring.create("")

    def test_mpmc(self) -> None:
        for lanes in (0, 4):
            with self.subTest(lanes=lanes):
                self.mpmc(lanes)
                shmring.Ring.unlink(self.name)

    def mpmc(self, lanes: int) -> None:
        """test_mpmc on a ring of lanes (0: one): 3 producers of 4 messages each fill
        their lanes of 4 slots."""
        with shmring.Ring.create(self.name, kind=shmring.Kind.MPMC, slot_size=64, size=64 * 16, lanes=lanes) as r:
            self.assertEqual(r.kind, shmring.Kind.MPMC)
            self.assertEqual(r.max_message, 64)
            ps = [r.producer() for _ in range(3)]
            cs = [r.consumer() for _ in range(2)]
            for i, p in enumerate(ps):
                p.send_batch([f"{i}:{k}".encode() for k in range(4)])
            with self.assertRaises(shmring.TooLarge):
                ps[0].send(b"x" * 65)
            got = cs[0].recv_batch(max=5, timeout=1) + list(cs[1].recv_batch(max=100, timeout=1))
            self.assertEqual(sorted(got), sorted(f"{i}:{k}".encode() for i in range(3) for k in range(4)))
            for i in range(3):
                mine = [m for m in got if m.startswith(f"{i}:".encode())]
                self.assertEqual(len(mine), 4)
            r.close_stream()
            with self.assertRaises(shmring.Closed):
                ps[1].send(b"after the end")
            for c in cs:
                with self.assertRaises(shmring.EndOfStream):
                    c.recv(timeout=1)

    def test_events(self) -> None:
        with shmring.Ring.create(self.name) as a, shmring.Ring.open(self.name) as b:
            self.assertEqual(shmring.num_events(), 8)
            ea, eb = a.event(3), b.event(3)
            self.assertFalse(eb.is_set())
            self.assertFalse(eb.wait_blocking(timeout=0.01))
            ea.set()
            self.assertTrue(eb.is_set())
            self.assertTrue(eb.wait_blocking(timeout=1))
            self.assertFalse(b.event(2).is_set())
            eb.clear()
            self.assertFalse(ea.is_set())
            with self.assertRaises(IndexError):
                a.event(8)


if __name__ == "__main__":
    unittest.main()
