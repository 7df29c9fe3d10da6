#!/usr/bin/env python3
"""The seed scenario on shmring: an asyncio program streams items to worker
processes and collects their answers, without threads or run_in_executor.

    python3 python/examples/seed_scenario.py [-n ITEMS] [--python-workers N] [--go-workers N]

Item i is {id: i, payload: i*i} (16 bytes, two little-endian uint64, the
format of cmd/shmring-demo). Every worker, Python or Go, consumes the same
MPMC request ring and answers {id, payload*2} on the same MPMC response ring:

- Python workers are multiprocessing processes ('spawn') that receive the
  rings as picklable tokens, and each sets an event of the request ring once
  attached: the asyncio side awaits those events (the counterpart of
  awaiting a multiprocessing.Event) before it streams.
- Go workers are cmd/shmring-demo in its worker mode (the SHMRING_DEMO_WORKER
  environment variable), built with the Go toolchain unless --go-demo names
  the binary, and given the rings with Ring.pass_to under the keys REQUEST
  and RESPONSE, which the Go side opens with shmring.Inherit.

The asyncio side sends the items in batches, then ends the request stream
(Ring.close_stream: no None sentinel); each worker drains the rest and exits;
once every worker has exited the response stream is ended too, which ends
the collector's ``async for``. Meanwhile a ticker coroutine sleeps 1 ms at a
time and records how late it wakes: the loop's worst delay. At the end every
id must have come back exactly once, transformed; the program prints one line:

    items=100000 workers=2+2 elapsed=... rate=... items/s loop-worst-delay=...ms ok
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import shmring  # noqa: E402

ITEM = struct.Struct("<QQ")
BATCH = 256
REPO = Path(__file__).resolve().parents[2]


def python_worker(index: int, req_token: shmring.RingToken, resp_token: shmring.RingToken) -> None:
    """A worker process: answers {id, v} with {id, 2v} until the request stream ends."""
    with shmring.Ring.inherit(req_token) as req, shmring.Ring.inherit(resp_token) as resp:
        c, p = req.consumer(batch=BATCH), resp.producer()
        req.event(index).set()
        while True:
            try:
                batch = c.recv_batch()
            except EOFError:
                break
            out = []
            for msg in batch:
                i, v = ITEM.unpack(msg)
                out.append(ITEM.pack(i, (v * 2) & 0xFFFFFFFFFFFFFFFF))
            p.send_batch(out)
        p.close()


def build_go_demo(dest: Path) -> str:
    """Builds cmd/shmring-demo into dest and returns its path."""
    go = shutil.which("go")
    if go is None:
        sys.exit("seed_scenario: Go workers need the Go toolchain (go) or --go-demo PATH; or use --go-workers 0")
    exe = dest / "shmring-demo"
    subprocess.run([go, "build", "-o", str(exe), "./cmd/shmring-demo"], cwd=REPO, check=True)
    return str(exe)


async def process_exit(proc: multiprocessing.process.BaseProcess) -> int:
    """Waits on the loop for a multiprocessing process to end; its exit code."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(proc.sentinel, lambda: done.done() or done.set_result(None))
    try:
        await done
    finally:
        loop.remove_reader(proc.sentinel)
    # The sentinel fires as the process ends; its exit status follows.
    while proc.exitcode is None:
        await asyncio.sleep(0.001)
        proc.join(0)
    return proc.exitcode


async def ticker(stop: asyncio.Event, worst: list[float]) -> None:
    """Sleeps 1 ms at a time until stop, recording the worst lateness in worst[0]."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t0 = loop.time()
        await asyncio.sleep(0.001)
        worst[0] = max(worst[0], loop.time() - t0 - 0.001)


async def run(n: int, py_workers: int, go_workers: int, go_demo: str | None) -> str:
    req = shmring.Ring.create_anonymous(kind="mpmc", slot_size=ITEM.size, size=ITEM.size * 4096)
    resp = shmring.Ring.create_anonymous(kind="mpmc", slot_size=ITEM.size, size=ITEM.size * 4096)
    ctx = multiprocessing.get_context("spawn")
    exits = []
    with req, resp:
        # Python workers: tokens through multiprocessing.
        for k in range(py_workers):
            with req.token("REQUEST") as rt, resp.token("RESPONSE") as st:
                proc = ctx.Process(target=python_worker, args=(k, rt, st))
                proc.start()
            exits.append(asyncio.create_task(process_exit(proc)))
        # Go workers: descriptors and environment through subprocess.
        for _ in range(go_workers):
            fds, env = [], {"SHMRING_DEMO_WORKER": "adaptive"}
            for key, ring in (("REQUEST", req), ("RESPONSE", resp)):
                fd, var = ring.pass_to(key)
                fds.append(fd)
                env.update(var)
            try:
                child = await asyncio.create_subprocess_exec(go_demo, pass_fds=fds, env={**os.environ, **env})
            finally:
                for fd in fds:
                    os.close(fd)
            exits.append(asyncio.create_task(child.wait()))

        # The multiprocessing.Event counterpart: each Python worker sets its event.
        await asyncio.gather(*(req.event(k).wait() for k in range(py_workers)))

        stop, worst = asyncio.Event(), [0.0]
        tick = asyncio.create_task(ticker(stop, worst))
        p, c = req.async_producer(), resp.async_consumer(batch=BATCH)

        async def stream() -> None:
            for start in range(0, n, BATCH):
                await p.send_batch(ITEM.pack(i, i * i) for i in range(start, min(n, start + BATCH)))
            req.close_stream()  # the end of the request stream: workers drain it and exit

        async def end_responses() -> None:
            codes = await asyncio.gather(*exits)
            if any(codes):
                raise RuntimeError(f"a worker failed: exit statuses {codes} (Python workers first)")
            resp.close_stream()  # every worker is done: the collector's async for ends

        seen = bytearray(n)

        async def collect() -> int:
            got = 0
            async for msg in c:
                i, v = ITEM.unpack(msg)
                if i >= n or seen[i] or v != (i * i * 2) & 0xFFFFFFFFFFFFFFFF:
                    raise RuntimeError(f"bad or repeated answer: id {i} value {v}")
                seen[i] = 1
                got += 1
            return got

        t0 = time.perf_counter()
        # The first failure of the three ends the run.
        _, _, got = await asyncio.gather(stream(), end_responses(), collect())
        elapsed = time.perf_counter() - t0
        stop.set()
        await tick
        p.close()
        c.close()
    if got != n:
        raise RuntimeError(f"{n - got} of {n} items missing, the first is id {seen.index(0)}")
    return (
        f"items={n} workers={py_workers}+{go_workers} elapsed={elapsed * 1e3:.1f}ms "
        f"rate={n / elapsed:.0f} items/s loop-worst-delay={worst[0] * 1e3:.2f}ms ok"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=100000, help="number of items")
    ap.add_argument("--python-workers", type=int, default=2)
    ap.add_argument("--go-workers", type=int, default=2)
    ap.add_argument("--go-demo", help="path of a built cmd/shmring-demo (default: build it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="shmring-seed-") as tmp:
        go_demo = args.go_demo
        if args.go_workers and go_demo is None:
            go_demo = build_go_demo(Path(tmp))
        print(asyncio.run(run(args.n, args.python_workers, args.go_workers, go_demo)))


if __name__ == "__main__":
    main()
