"""The seed scenario example runs end to end with Python and Go workers."""

import re
import subprocess
import sys
import unittest

from support import PYTHON_DIR, go_bin


class SeedScenarioTest(unittest.TestCase):
    """python/examples/seed_scenario.py with two Python and two Go workers."""

    def test_seed_scenario(self) -> None:
        done = subprocess.run(
            [
                sys.executable,
                str(PYTHON_DIR / "examples" / "seed_scenario.py"),
                "-n",
                "20000",
                "--python-workers",
                "2",
                "--go-workers",
                "2",
                "--go-demo",
                go_bin("shmring-demo"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertRegex(
            done.stdout,
            r"^items=20000 workers=2\+2 elapsed=\S+ms rate=\d+ items/s loop-worst-delay=\S+ms ok\n$",
        )
        self.assertTrue(re.search(r"rate=[1-9]", done.stdout))


if __name__ == "__main__":
    unittest.main()
