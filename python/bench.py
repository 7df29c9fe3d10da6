#!/usr/bin/env python3
"""One run of the Python bench: the seed's asyncio bridge against shmring.

    python3 python/bench.py [-n ITEMS] [--rtt ROUNDS] [--no-go]

Each row moves 16-byte items {id, payload} to a worker process, which
answers {id, payload*2}, and back; items/s counts answers received with the
pipeline full, and the round trip (p50, p99) sends one item and waits for its
answer, one at a time:

  (a) seed bridge: asyncio + loop.run_in_executor(None, q.get) over
      multiprocessing.Queue (dict items, as the seed program had them);
  (b) multiprocessing.Queue read in a plain thread;
  (c) shmring from asyncio (async_producer.send_batch, async for; await
      send, await recv for the round trip), once waiting on the loop at
      once, once spinning --spin seconds first (async_consumer(spin=...));
  (d) shmring from synchronous Python (a sender thread with send_batch, the
      consumer iterated; send, recv for the round trip);
  (e) Go to Go: cmd/shmring-demo with one worker (the same items and round
      trip as above), and the Go bench harness's 64-byte copy rows.

The Python workers of (c) and (d) use the synchronous API with batches. Then
it measures the event loop's stall (a 1 ms ticker's worst lateness) on a
loop with no ring and on one awaiting an idle ring and an event, and where
the time of a message goes (ctypes call costs, the add_reader wake-up). It
prints the ratios of (c) against (a) with the goals beside them; the goals
are checked, not assumed: read the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shmring  # noqa: E402

ITEM = struct.Struct("<QQ")
BATCH = 256
REPO = Path(__file__).resolve().parent.parent
MASK = 0xFFFFFFFFFFFFFFFF


def queue_worker(inq: multiprocessing.Queue, outq: multiprocessing.Queue) -> None:
    """The seed's worker: answers each dict until a None."""
    while True:
        item = inq.get()
        if item is None:
            return
        outq.put({"id": item["id"], "payload": item["payload"] * 2})


def ring_worker(req_token: shmring.RingToken, resp_token: shmring.RingToken) -> None:
    """The shmring worker: answers each item until the end of the request stream."""
    with shmring.Ring.inherit(req_token) as req, shmring.Ring.inherit(resp_token) as resp:
        c, p = req.consumer(batch=BATCH), resp.producer()
        req.event(0).set()
        while True:
            try:
                batch = c.recv_batch()
            except EOFError:
                break
            out = []
            for msg in batch:
                i, v = ITEM.unpack(msg)
                out.append(ITEM.pack(i, (v * 2) & MASK))
            p.send_batch(out)
        p.close()


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 of samples, in microseconds."""
    s = sorted(samples)
    return s[len(s) // 2] * 1e6, s[min(len(s) - 1, int(len(s) * 0.99))] * 1e6


class Row:
    """One line of the table."""

    def __init__(self, label: str, rate: float, p50: float, p99: float) -> None:
        self.label, self.rate, self.p50, self.p99 = label, rate, p50, p99

    def __str__(self) -> str:
        return f"{self.label:<44} {self.rate:>12,.0f} items/s   p50 {self.p50:>9.1f} µs   p99 {self.p99:>9.1f} µs"


def bench_queue_asyncio(ctx: multiprocessing.context.BaseContext, n: int, rtt: int) -> Row:
    inq, outq = ctx.Queue(), ctx.Queue()
    w = ctx.Process(target=queue_worker, args=(inq, outq))
    w.start()

    async def main() -> tuple[float, list[float]]:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: (inq.put({"id": -1, "payload": 0}), outq.get()))
        t0 = time.perf_counter()
        for i in range(n):
            inq.put({"id": i, "payload": i * i})
        for _ in range(n):
            await loop.run_in_executor(None, outq.get)
        elapsed = time.perf_counter() - t0
        rtts = []
        for i in range(rtt):
            t = time.perf_counter()
            inq.put({"id": i, "payload": i * i})
            await loop.run_in_executor(None, outq.get)
            rtts.append(time.perf_counter() - t)
        return elapsed, rtts

    elapsed, rtts = asyncio.run(main())
    inq.put(None)
    w.join()
    return Row("(a) asyncio + run_in_executor(q.get), mp.Queue", n / elapsed, *percentiles(rtts))


def bench_queue_thread(ctx: multiprocessing.context.BaseContext, n: int, rtt: int) -> Row:
    inq, outq = ctx.Queue(), ctx.Queue()
    w = ctx.Process(target=queue_worker, args=(inq, outq))
    w.start()
    inq.put({"id": -1, "payload": 0})
    outq.get()
    t0 = time.perf_counter()
    reader = threading.Thread(target=lambda: [outq.get() for _ in range(n)])
    reader.start()
    for i in range(n):
        inq.put({"id": i, "payload": i * i})
    reader.join()
    elapsed = time.perf_counter() - t0
    rtts: list[float] = []

    def ping() -> None:
        for i in range(rtt):
            t = time.perf_counter()
            inq.put({"id": i, "payload": i * i})
            outq.get()
            rtts.append(time.perf_counter() - t)

    pinger = threading.Thread(target=ping)
    pinger.start()
    pinger.join()
    inq.put(None)
    w.join()
    return Row("(b) mp.Queue read in a plain thread", n / elapsed, *percentiles(rtts))


def start_ring_worker(ctx: multiprocessing.context.BaseContext) -> tuple[shmring.Ring, shmring.Ring, multiprocessing.Process]:
    req = shmring.Ring.create_anonymous(size=1 << 20)
    resp = shmring.Ring.create_anonymous(size=1 << 20)
    with req.token("REQ") as rt, resp.token("RESP") as st:
        w = ctx.Process(target=ring_worker, args=(rt, st))
        w.start()
    if not req.event(0).wait_blocking(timeout=60):
        raise RuntimeError("the ring worker did not start")
    return req, resp, w


def check_answers(msgs: list[bytes], n: int) -> None:
    for k, m in enumerate(msgs):
        i, v = ITEM.unpack(m)
        if i != k or v != (k * k * 2) & MASK:
            raise RuntimeError(f"answer {k} is {i}, {v}")


def bench_ring_asyncio(ctx: multiprocessing.context.BaseContext, n: int, rtt: int, spin: float) -> Row:
    req, resp, w = start_ring_worker(ctx)
    p, c = req.async_producer(), resp.async_consumer(batch=BATCH, spin=spin)

    async def main() -> tuple[float, list[float]]:
        async def stream() -> None:
            for start in range(0, n, BATCH):
                await p.send_batch([ITEM.pack(i, i * i) for i in range(start, min(n, start + BATCH))])

        t0 = time.perf_counter()
        sender = asyncio.create_task(stream())
        got = []
        while len(got) < n:
            got.extend(await c.recv_batch())
        elapsed = time.perf_counter() - t0
        await sender
        check_answers(got, n)
        rtts = []
        for i in range(rtt):
            t = time.perf_counter()
            await p.send(ITEM.pack(i, i))
            await c.recv()
            rtts.append(time.perf_counter() - t)
        return elapsed, rtts

    elapsed, rtts = asyncio.run(main())
    p.close()
    w.join()
    req.close()
    resp.close()
    label = "(c) shmring from asyncio" + (f", spin {spin * 1e6:.0f} µs" if spin else "")
    return Row(label, n / elapsed, *percentiles(rtts))


def bench_ring_sync(ctx: multiprocessing.context.BaseContext, n: int, rtt: int) -> Row:
    req, resp, w = start_ring_worker(ctx)
    p, c = req.producer(), resp.consumer(batch=BATCH)

    def stream() -> None:
        for start in range(0, n, BATCH):
            p.send_batch([ITEM.pack(i, i * i) for i in range(start, min(n, start + BATCH))])

    t0 = time.perf_counter()
    sender = threading.Thread(target=stream)
    sender.start()
    got: list[bytes] = []
    while len(got) < n:
        got.extend(c.recv_batch())
    elapsed = time.perf_counter() - t0
    sender.join()
    check_answers(got, n)
    rtts = []
    for i in range(rtt):
        t = time.perf_counter()
        p.send(ITEM.pack(i, i))
        c.recv()
        rtts.append(time.perf_counter() - t)
    p.close()
    w.join()
    req.close()
    resp.close()
    return Row("(d) shmring from synchronous Python", n / elapsed, *percentiles(rtts))


def bench_go(n: int) -> list[str]:
    go = shutil.which("go")
    if go is None:
        return ["(e) Go to Go: not measured, the Go toolchain is not on PATH"]
    out = []
    with tempfile.TemporaryDirectory(prefix="shmring-bench-") as tmp:
        subprocess.run([go, "build", "-o", tmp, "./cmd/shmring-demo", "./bench"], cwd=REPO, check=True)
        demo = subprocess.run(
            [f"{tmp}/shmring-demo", "-n", str(n), "-workers", "1"], capture_output=True, text=True, check=True
        ).stdout.strip()
        out.append(f"(e) Go to Go, cmd/shmring-demo, 1 worker, 16 B items: {demo}")
        rows = subprocess.run(
            [f"{tmp}/bench", "-quick", "-json", "-time", "500ms", "-rtt", "20000",
             "-run", "^(throughput|pingpong)/shmring/adaptive/copy/64$"],
            capture_output=True, text=True, check=True,
        ).stdout
        for line in rows.splitlines():
            r = json.loads(line)
            if r["scenario"] == "throughput":
                out.append(f"(e) Go to Go, bench harness, 64 B one way: {r['msgs_per_s']:,.0f} msgs/s")
            else:
                out.append(
                    f"(e) Go to Go, bench harness, 64 B round trip: p50 {r['p50_ns'] / 1e3:.1f} µs, "
                    f"p99 {r['p99_ns'] / 1e3:.1f} µs"
                )
    return out


async def worst_tick(seconds: float) -> float:
    loop = asyncio.get_running_loop()
    worst = 0.0
    end = loop.time() + seconds
    while loop.time() < end:
        t0 = loop.time()
        await asyncio.sleep(0.001)
        worst = max(worst, loop.time() - t0 - 0.001)
    return worst


def bench_stall(seconds: float) -> tuple[float, float]:
    """The ticker's worst lateness on a bare loop, and on one awaiting an idle ring and an event."""
    bare = asyncio.run(worst_tick(seconds))

    async def with_ring() -> float:
        with shmring.Ring.create_anonymous() as r:
            c = r.async_consumer()
            waiters = [asyncio.create_task(c.recv()), asyncio.create_task(r.event(0).wait())]
            worst = await worst_tick(seconds)
            for t in waiters:
                t.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
            return worst

    return bare, asyncio.run(with_ring())


def profile() -> list[str]:
    """Where a message's time goes, measured in this process."""
    out = []
    lib = shmring._lib.lib()
    k = 200000
    t0 = time.perf_counter()
    for _ in range(k):
        lib.shmring_num_events()
    out.append(f"ctypes call into the library (shmring_num_events): {(time.perf_counter() - t0) / k * 1e9:.0f} ns")
    with shmring.Ring.create_anonymous(size=1 << 20) as r:
        p, c = r.producer(), r.consumer(batch=BATCH)
        t0 = time.perf_counter()
        for _ in range(k):
            try:
                c.try_recv()
            except shmring.Empty:
                pass
        out.append(f"try_recv on an empty ring (raises Empty): {(time.perf_counter() - t0) / k * 1e9:.0f} ns")
        msg = ITEM.pack(1, 2)
        t0 = time.perf_counter()
        for _ in range(k):
            p.try_send(msg)
            c.try_recv()
        out.append(f"try_send + try_recv of one 16 B item, one process: {(time.perf_counter() - t0) / k * 1e9:.0f} ns")
        batch = [msg] * BATCH
        rounds = k // BATCH
        t0 = time.perf_counter()
        for _ in range(rounds):
            p.send_batch(batch)
            c.recv_batch()
        out.append(
            f"send_batch + recv_batch of {BATCH}, per item: {(time.perf_counter() - t0) / (rounds * BATCH) * 1e9:.0f} ns"
        )
        c.close()
        ac = r.async_consumer(batch=1)

        async def wake() -> float:
            loop = asyncio.get_running_loop()
            samples = []
            for _ in range(2000):
                t = time.perf_counter()
                loop.call_soon(p.send, msg)
                await ac.recv()
                samples.append(time.perf_counter() - t)
            return statistics.median(samples)

        out.append(
            f"add_reader wake-up: send from a loop callback to await recv, median: {asyncio.run(wake()) * 1e6:.1f} µs"
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=1000000, help="items for the shmring rows (c, d, e)")
    ap.add_argument("--queue-n", type=int, default=20000, help="items for the multiprocessing.Queue rows (a, b)")
    ap.add_argument("--rtt", type=int, default=2000, help="round trips per row")
    ap.add_argument("--stall", type=float, default=2.0, help="seconds of each stall measurement")
    ap.add_argument("--spin", type=float, default=50e-6, help="seconds a (c) consumer spins in the second (c) row")
    ap.add_argument("--no-go", action="store_true", help="skip the Go rows")
    args = ap.parse_args()
    ctx = multiprocessing.get_context("spawn")
    a = bench_queue_asyncio(ctx, args.queue_n, args.rtt)
    print(a, flush=True)
    b = bench_queue_thread(ctx, args.queue_n, args.rtt)
    print(b, flush=True)
    c = bench_ring_asyncio(ctx, args.n, args.rtt, 0.0)
    print(c, flush=True)
    cs = bench_ring_asyncio(ctx, args.n, args.rtt, args.spin)
    print(cs, flush=True)
    d = bench_ring_sync(ctx, args.n, args.rtt)
    print(d, flush=True)
    if not args.no_go:
        for line in bench_go(args.n):
            print(line, flush=True)
    bare, ring = bench_stall(args.stall)
    print(f"loop stall, 1 ms ticker's worst lateness: no ring {bare * 1e3:.3f} ms, "
          f"awaiting an idle ring and event {ring * 1e3:.3f} ms")
    print("where the time goes:")
    for line in profile():
        print("  " + line)
    for row in (c, cs):
        print(f"goals, {row.label} against (a):")
        print(f"  items/s     {row.rate / a.rate:8.1f}x   (want >= 100x)   {'met' if row.rate >= 100 * a.rate else 'NOT met'}")
        print(f"  p50 round   {row.p50 / a.p50:8.3f}x   (want <= 0.05x)  {'met' if row.p50 <= 0.05 * a.p50 else 'NOT met'}")
        print(f"  p99 round   {row.p99 / a.p99:8.3f}x   (want <= 0.05x)  {'met' if row.p99 <= 0.05 * a.p99 else 'NOT met'}")
    print(f"  loop stall  {(ring - bare) * 1e3:+8.3f} ms (want within 1 ms of no ring)  "
          f"{'met' if ring - bare <= 0.001 else 'NOT met'}")


if __name__ == "__main__":
    main()
