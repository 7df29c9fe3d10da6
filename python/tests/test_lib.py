"""Finding, building and loading libshmring.so."""

import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from support import PYTHON_DIR, child_env

from shmring import _lib  # noqa: E402


class LibraryTest(unittest.TestCase):
    """SHMRING_LIB, the build with the Go toolchain, and its errors."""

    def test_build_without_go_says_so(self) -> None:
        with tempfile.TemporaryDirectory() as tmp, mock.patch("shutil.which", return_value=None):
            with self.assertRaises(_lib.LibraryError) as cm:
                _lib._build(Path(tmp) / "libshmring.so")
        self.assertIn("Go toolchain", str(cm.exception))

    def test_build(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "libshmring.so"
            _lib._build(target)
            self.assertTrue(target.is_file())
            self.assertEqual(sorted(p.name for p in Path(tmp).iterdir()), ["libshmring.so"])
            # A fresh process loads it through SHMRING_LIB and uses it.
            code = "import shmring; r = shmring.Ring.create_anonymous(); print(shmring.library_path(), r.capacity)"
            out = subprocess.run(
                [sys.executable, "-c", code],
                env=child_env({"SHMRING_LIB": str(target)}),
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            self.assertEqual(out, [str(target), str(1 << 20)])

    def test_missing_shmring_lib(self) -> None:
        with mock.patch.dict(os.environ, {"SHMRING_LIB": str(PYTHON_DIR / "no-such-lib.so")}):
            with self.assertRaises(_lib.LibraryError) as cm:
                _lib.library_path()
        self.assertIn("SHMRING_LIB", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
