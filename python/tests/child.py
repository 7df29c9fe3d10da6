"""Child processes of the tests, run as ``python child.py MODE ARGS...`` or,
for multiprocessing, through the functions below."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import shmring  # noqa: E402

ITEM = struct.Struct("<QQ")


async def echo() -> None:
    """Inherits REQUEST and RESPONSE and answers each item {id, v} with {id, 2v}."""
    with shmring.Ring.inherit("REQUEST") as req, shmring.Ring.inherit("RESPONSE") as resp:
        out = resp.async_producer()
        async for msg in req.async_consumer():
            i, v = ITEM.unpack(msg)
            await out.send(ITEM.pack(i, v * 2))
        out.close()


def token_worker(req_token: shmring.RingToken, resp_token: shmring.RingToken) -> None:
    """A multiprocessing target: echo over rings received as tokens; sets event 0 of
    the request ring once attached."""
    with shmring.Ring.inherit(req_token) as req, shmring.Ring.inherit(resp_token) as resp:
        c, p = req.consumer(), resp.producer()
        req.event(0).set()
        for msg in c:
            i, v = ITEM.unpack(msg)
            p.send(ITEM.pack(i, v * 2))
        p.close()


def mpmc_consumer(name: str, ready_event: int, kill_after: int) -> None:
    """Consumes the MPMC ring name one message at a time, once attached setting
    event ready_event, and writes each message to
    standard output as a length-prefixed record (what ``shmring recv -z``
    writes). With kill_after > 0 it SIGKILLs itself right after writing
    that many, in the middle of the stream."""
    with shmring.Ring.open(name) as r:
        c = r.consumer(batch=1)
        r.event(ready_event).set()
        out = sys.stdout.fileno()
        count = 0
        while True:
            try:
                msg = c.recv()
            except EOFError:
                return
            os.write(out, struct.pack("<I", len(msg)) + msg)
            count += 1
            if count == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)


def orphan() -> None:
    """Inherits RING, reports 'ready' and waits on it; prints the error's class
    once the wait ends (ParentDead when the parent was killed)."""
    with shmring.Ring.inherit("RING") as r:
        c = r.consumer()
        print("ready", flush=True)
        try:
            c.recv(timeout=30)
        except shmring.ShmringError as e:
            print(type(e).__name__, flush=True)


def middle() -> None:
    """Creates an anonymous ring, starts an orphan() grandchild with it, prints
    the grandchild's pid and its output line, then waits to be killed."""
    import subprocess

    r = shmring.Ring.create_anonymous()
    fd, env = r.pass_to("RING")
    child = subprocess.Popen(
        [sys.executable, __file__, "orphan"],
        pass_fds=(fd,),
        env={**os.environ, **env},
        stdout=sys.stdout,
    )
    os.close(fd)
    print(child.pid, flush=True)
    child.wait()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "echo":
        asyncio.run(echo())
    elif mode == "mpmc-consumer":
        mpmc_consumer(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "orphan":
        orphan()
    elif mode == "middle":
        middle()
    else:
        sys.exit(f"child.py: unknown mode {mode!r}")
