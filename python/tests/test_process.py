"""Passing rings to child processes: subprocess, multiprocessing, Go workers."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import unittest
from pathlib import Path

from support import child_env, go_bin  # first: it puts the package on sys.path

import shmring  # noqa: E402

CHILD = str(Path(__file__).resolve().parent / "child.py")
ITEM = struct.Struct("<QQ")


def start_with_rings(cmd: list[str], rings: dict[str, shmring.Ring], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Starts cmd with each ring passed under its key, and closes the parent's copies."""
    fds: list[int] = []
    extra = dict(env or {})
    for key, ring in rings.items():
        fd, var = ring.pass_to(key)
        fds.append(fd)
        extra.update(var)
    try:
        return subprocess.Popen(cmd, pass_fds=fds, env=child_env(extra))
    finally:
        for fd in fds:
            os.close(fd)


async def round_trip(req: shmring.Ring, resp: shmring.Ring, n: int) -> list[tuple[int, int]]:
    """Sends items 0..n-1 on req, ends the stream, returns what comes back on resp."""
    p, c = req.async_producer(), resp.async_consumer()

    async def produce() -> None:
        """Sends the items, then ends the stream."""
        await p.send_batch(ITEM.pack(i, i * i) for i in range(n))
        p.close()

    task = asyncio.create_task(produce())
    got = [ITEM.unpack(m) async for m in c]
    await task
    return got


class PassTest(unittest.TestCase):
    """Rings passed with pass_to to children started with subprocess."""

    def check_worker(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        """Runs an echo worker over two passed rings and checks every answer."""
        n = 20000
        with shmring.Ring.create_anonymous() as req, shmring.Ring.create_anonymous() as resp:
            proc = start_with_rings(cmd, {"REQUEST": req, "RESPONSE": resp}, env)
            try:
                got = asyncio.run(asyncio.wait_for(round_trip(req, resp, n), 60))
            finally:
                rc = proc.wait(30)
            self.assertEqual(rc, 0)
            self.assertEqual(got, [(i, 2 * i * i) for i in range(n)])

    def test_python_child(self) -> None:
        self.check_worker([sys.executable, CHILD, "echo"])

    def test_go_child(self) -> None:
        self.check_worker([go_bin("shmring-demo")], {"SHMRING_DEMO_WORKER": "adaptive"})

    def test_inherit_without_pass(self) -> None:
        with self.assertRaises(shmring.NotFound):
            shmring.Ring.inherit("NOT_PASSED")
        with self.assertRaises(shmring.BadName):
            shmring.Ring.inherit("no-dashes")

    def test_parent_dead(self) -> None:
        middle = subprocess.Popen([sys.executable, CHILD, "middle"], stdout=subprocess.PIPE, env=child_env())
        assert middle.stdout is not None
        # The grandchild's "ready" and the middle's report of its pid, in either order.
        lines = sorted(middle.stdout.readline().strip() for _ in range(2))
        self.assertEqual(lines[1], b"ready")
        grandchild = int(lines[0])
        middle.send_signal(signal.SIGKILL)
        middle.wait()
        # The grandchild's line comes through the same pipe, which it holds.
        self.assertEqual(middle.stdout.readline().strip(), b"ParentDead")
        middle.stdout.close()
        try:
            os.waitpid(grandchild, 0)
        except ChildProcessError:
            pass  # not our child: reparented away


class MultiprocessingTest(unittest.TestCase):
    """Rings passed as tokens to multiprocessing's 'spawn' children."""

    def test_token_to_spawned_child(self) -> None:
        import child

        ctx = multiprocessing.get_context("spawn")
        n = 10000
        with shmring.Ring.create_anonymous() as req, shmring.Ring.create_anonymous() as resp:
            with req.token("REQ") as rt, resp.token("RESP") as st:
                proc = ctx.Process(target=child.token_worker, args=(rt, st))
                proc.start()
            self.assertTrue(req.event(0).wait_blocking(timeout=60))
            got = asyncio.run(asyncio.wait_for(round_trip(req, resp, n), 60))
            proc.join(30)
            self.assertEqual(proc.exitcode, 0)
            self.assertEqual(got, [(i, 2 * i * i) for i in range(n)])

    def test_token_only_at_spawn(self) -> None:
        import pickle

        with shmring.Ring.create_anonymous() as r:
            tok = r.token("T")
            with self.assertRaises(shmring.ShmringError):
                pickle.dumps(tok)
            tok.close()
            self.assertNotIn("SHMRING_FD_T", os.environ)
            with self.assertRaises(shmring.Closed):
                pickle.dumps(tok)

if __name__ == "__main__":
    unittest.main()
