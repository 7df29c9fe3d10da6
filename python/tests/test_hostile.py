"""Hostile segments: files in /dev/shm that are not sound rings are refused
with the errors Go gives for them (NotRing, Version, Corrupt)."""

from __future__ import annotations

import os
import struct
import subprocess
import unittest
from pathlib import Path

from support import go_bin, remove_ring, ring_name  # first: it puts the package on sys.path

import shmring  # noqa: E402

# The segment header, as shm/layout.go lays it out (native-endian fields).
OFF_VERSION = 8
OFF_REGION_SIZE = 40
OFF_CRC = 80


def _crc32c_table() -> list[int]:
    """The table of the reflected CRC-32C polynomial."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the header's checksum."""
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def reseal(b: bytearray) -> None:
    """Recomputes the header checksum, so that only the change made before is wrong."""
    struct.pack_into("=I", b, OFF_CRC, crc32c(bytes(b[:OFF_CRC])))


class HostileTest(unittest.TestCase):
    """Segment files written by hand into /dev/shm, opened from Python and from the Go CLI."""

    @classmethod
    def setUpClass(cls) -> None:
        """Keeps the bytes of a sound 8 KiB ring, whose name is then removed."""
        name = ring_name("image")
        try:
            with shmring.Ring.create(name, size=8192):
                cls.image = Path("/dev/shm", name).read_bytes()
        finally:
            remove_ring(name)

    def write(self, data: bytes) -> str:
        """Writes data as a new file in /dev/shm (removed after the test); its name."""
        name = ring_name("hostile")
        self.addCleanup(remove_ring, name)
        fd = os.open(Path("/dev/shm", name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return name

    def check(self, data: bytes, cls: type[shmring.ShmringError], sentinel: str) -> None:
        """Asserts that Python refuses data with cls and Go with the same sentinel error."""
        name = self.write(data)
        with self.assertRaises(cls) as cm:
            shmring.Ring.open(name)
        self.assertIn(sentinel, str(cm.exception))
        with self.assertRaises(cls):
            shmring.Ring.open_or_create(name)
        go = subprocess.run([go_bin("shmring"), "stat", name], capture_output=True, text=True)
        self.assertNotEqual(go.returncode, 0)
        self.assertIn(sentinel, go.stderr)

    def test_sound_image_opens(self) -> None:
        name = self.write(self.image)
        with shmring.Ring.open(name) as r:
            self.assertEqual(r.capacity, 8192)

    def test_garbage(self) -> None:
        self.check(os.urandom(3 * 4096), shmring.NotRing, "not a shmring segment")

    def test_empty_and_short(self) -> None:
        self.check(b"", shmring.NotRing, "not a shmring segment")
        self.check(self.image[:10], shmring.NotRing, "not a shmring segment")

    def test_bad_version(self) -> None:
        b = bytearray(self.image)
        struct.pack_into("=I", b, OFF_VERSION, 99)
        reseal(b)
        self.check(bytes(b), shmring.Version, "unsupported segment format version")

    def test_bad_checksum(self) -> None:
        b = bytearray(self.image)
        b[OFF_CRC] ^= 0xFF
        self.check(bytes(b), shmring.Corrupt, "corrupt segment")

    def test_region_larger_than_file(self) -> None:
        b = bytearray(self.image)
        struct.pack_into("=Q", b, OFF_REGION_SIZE, 1 << 30)
        reseal(b)
        self.check(bytes(b), shmring.Corrupt, "corrupt segment")

    def test_truncated_region(self) -> None:
        self.check(self.image[: len(self.image) // 2], shmring.Corrupt, "corrupt segment")


if __name__ == "__main__":
    unittest.main()
