"""A million messages each way between Go and Python, on SPSC and MPMC rings,
exactly once and in order; a Python consumer killed mid-stream on an MPMC ring."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import subprocess
import sys
import threading
import unittest
from pathlib import Path

from support import child_env, go_bin, remove_ring, ring_name  # first: it puts the package on sys.path

import shmring  # noqa: E402

N = int(os.environ.get("SHMRING_TEST_INTEROP_N", "1000000"))
CHILD = str(Path(__file__).resolve().parent / "child.py")
SEQ = struct.Struct("<Q")


def parse_records(data: bytes) -> list[bytes]:
    """Splits what ``shmring recv -z`` wrote: uint32 little-endian lengths and bytes."""
    out = []
    off = 0
    while off < len(data):
        (n,) = struct.unpack_from("<I", data, off)
        out.append(data[off + 4 : off + 4 + n])
        off += 4 + n
    if off != len(data):
        raise AssertionError(f"a record cut short at byte {off} of {len(data)}")
    return out


class InteropTest(unittest.TestCase):
    """N messages each way between Go commands and Python, on a named ring of each kind."""

    def setUp(self) -> None:
        self.name = ring_name("interop")
        self.addCleanup(remove_ring, self.name)

    async def consume_go_producer(self, kind: shmring.Kind) -> list[int]:
        """Runs cmd/producer against the ring and reads its stream from asyncio."""
        ring = shmring.Ring.create(self.name, kind=kind, size=1 << 20, slot_size=16 if kind == shmring.Kind.MPMC else 0)
        self.addCleanup(ring.close)
        c = ring.async_consumer(batch=256)
        proc = await asyncio.create_subprocess_exec(
            go_bin("producer"), "-ring", self.name, "-n", str(N), "-msgsize", "16"
        )

        async def end_stream() -> None:
            self.assertEqual(await proc.wait(), 0)
            if kind == shmring.Kind.MPMC:
                # A producer's exit does not end an MPMC stream.
                ring.close_stream()

        ender = asyncio.create_task(end_stream())
        seqs = [SEQ.unpack_from(m)[0] async for m in c]
        await ender
        return seqs

    def test_go_producer_to_asyncio_spsc(self) -> None:
        seqs = asyncio.run(asyncio.wait_for(self.consume_go_producer(shmring.Kind.SPSC), 300))
        self.assertEqual(len(seqs), N)
        self.assertTrue(seqs == list(range(N)), "not every message exactly once and in order")

    def test_go_producer_to_asyncio_mpmc(self) -> None:
        seqs = asyncio.run(asyncio.wait_for(self.consume_go_producer(shmring.Kind.MPMC), 300))
        self.assertEqual(len(seqs), N)
        self.assertTrue(seqs == list(range(N)), "not every message exactly once and in order")

    def produce_to_go_consumer(self, kind: shmring.Kind) -> list[bytes]:
        """Sends N messages from Python to `shmring recv -z`; what it received."""
        ring = shmring.Ring.create(self.name, kind=kind, size=1 << 20, slot_size=16 if kind == shmring.Kind.MPMC else 0)
        self.addCleanup(ring.close)
        proc = subprocess.Popen([go_bin("shmring"), "recv", "-z", self.name], stdout=subprocess.PIPE)
        out: list[bytes] = []
        reader = threading.Thread(target=lambda: out.append(proc.communicate(timeout=300)[0]))
        reader.start()
        p = ring.producer()
        batch = 512
        for start in range(0, N, batch):
            p.send_batch([SEQ.pack(i) + b"python!!" for i in range(start, min(N, start + batch))], timeout=60)
        if kind == shmring.Kind.MPMC:
            ring.close_stream()
        else:
            p.close()
        reader.join(300)
        self.assertEqual(proc.returncode, 0)
        return parse_records(out[0])

    def test_python_producer_to_go_spsc(self) -> None:
        msgs = self.produce_to_go_consumer(shmring.Kind.SPSC)
        self.assertEqual(len(msgs), N)
        self.assertTrue(msgs == [SEQ.pack(i) + b"python!!" for i in range(N)], "not every message exactly once and in order")

    def test_python_producer_to_go_mpmc(self) -> None:
        msgs = self.produce_to_go_consumer(shmring.Kind.MPMC)
        self.assertEqual(len(msgs), N)
        self.assertTrue(msgs == [SEQ.pack(i) + b"python!!" for i in range(N)], "not every message exactly once and in order")


class KilledConsumerTest(unittest.TestCase):
    """A Python consumer SIGKILLed mid-stream on an MPMC ring shared with a Go
    consumer and another Python one: every message still arrives exactly once,
    and the dead participant is reaped."""

    def test_python_worker_killed(self) -> None:
        n = 100000
        name = ring_name("kill")
        self.addCleanup(remove_ring, name)
        ring = shmring.Ring.create(name, kind=shmring.Kind.MPMC, slot_size=8, size=8 * 256)
        self.addCleanup(ring.close)
        cmds = {
            "go": [go_bin("shmring"), "recv", "-z", name],
            "python": [sys.executable, CHILD, "mpmc-consumer", name, "1", "0"],
            "killed": [sys.executable, CHILD, "mpmc-consumer", name, "2", "1000"],
        }
        procs = {k: subprocess.Popen(cmd, stdout=subprocess.PIPE, env=child_env()) for k, cmd in cmds.items()}
        outs: dict[str, bytes] = {}
        readers = [
            threading.Thread(target=lambda k=k, pr=pr: outs.__setitem__(k, pr.communicate(timeout=300)[0]))
            for k, pr in procs.items()
        ]
        for t in readers:
            t.start()
        for i in (1, 2):
            self.assertTrue(ring.event(i).wait_blocking(timeout=60), "a Python consumer did not start")
        p = ring.producer()
        for start in range(0, n, 256):
            p.send_batch([SEQ.pack(i) for i in range(start, min(n, start + 256))], timeout=60)
        ring.close_stream()
        for t in readers:
            t.join(300)
        self.assertEqual(procs["killed"].returncode, -signal.SIGKILL)
        self.assertEqual(procs["go"].returncode, 0)
        self.assertEqual(procs["python"].returncode, 0)
        got = {k: [SEQ.unpack(m)[0] for m in parse_records(v)] for k, v in outs.items()}
        self.assertEqual(len(got["killed"]), 1000)
        self.assertGreater(len(got["go"]) + len(got["python"]), 0)
        everything = sorted(got["go"] + got["python"] + got["killed"])
        self.assertEqual(len(everything), n, "lost or duplicated messages")
        self.assertTrue(everything == list(range(n)), "not every message exactly once")
        for k, seqs in got.items():
            self.assertEqual(seqs, sorted(seqs), f"{k}: one producer's messages out of order")
        stat = subprocess.run([go_bin("shmring"), "stat", name], capture_output=True, text=True, check=True).stdout
        self.assertNotIn("dead", stat, "a dead participant was left in the table:\n" + stat)


if __name__ == "__main__":
    unittest.main()
