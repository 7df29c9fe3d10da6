"""Helpers of the test suite: the package on sys.path, ring names, Go commands,\nthe environment of Python children. Import it before shmring."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON_DIR = REPO / "python"
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

_bin_lock = threading.Lock()
_bin_dir: Path | None = None


def ring_name(tag: str) -> str:
    """A fresh name for a ring in /dev/shm that this run creates (and removes)."""
    return f"shmring-pytest-{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def remove_ring(name: str) -> None:
    """Removes /dev/shm/name if it is still there."""
    try:
        os.unlink(Path("/dev/shm") / name)
    except FileNotFoundError:
        pass


def go_bin(command: str) -> str:
    """Builds the Go commands of cmd/ once per run and returns the path of one."""
    global _bin_dir
    with _bin_lock:
        if _bin_dir is None:
            go = shutil.which("go")
            if go is None:
                raise unittest.SkipTest("the Go toolchain is not on PATH")
            d = Path(tempfile.mkdtemp(prefix="shmring-pytest-bin-"))
            atexit.register(shutil.rmtree, d, True)
            subprocess.run(
                [go, "build", "-o", str(d), "./cmd/producer", "./cmd/consumer", "./cmd/shmring", "./cmd/shmring-demo"],
                cwd=REPO,
                check=True,
            )
            _bin_dir = d
        return str(_bin_dir / command)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a Python child that imports shmring."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PYTHON_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    if extra:
        env.update(extra)
    return env
