"""The exception hierarchy and the mapping of the C API's codes."""

import unittest

import support  # noqa: F401  (first: it puts the package on sys.path)

import shmring  # noqa: E402
from shmring import errors


class ErrorHierarchyTest(unittest.TestCase):
    """Each code gives its class, with a message, under ShmringError and the right built-in."""

    def test_every_code_maps_to_its_class(self) -> None:
        want = {
            -1: shmring.Full,
            -2: shmring.Empty,
            -3: shmring.TooLarge,
            -4: shmring.Corrupt,
            -5: shmring.Closed,
            -6: shmring.Busy,
            -7: shmring.PeerDead,
            -8: shmring.ParentDead,
            -9: shmring.Mismatch,
            -10: shmring.NotRing,
            -11: shmring.Version,
            -12: shmring.BadName,
            -13: shmring.NoSpace,
            -14: shmring.NotSupported,
            -15: shmring.EndOfStream,
            -16: shmring.Timeout,
            -17: shmring.Exists,
            -18: shmring.NotFound,
            -19: shmring.InvalidArgument,
            -20: shmring.PermissionDenied,
            -99: shmring.OtherError,
        }
        for code, cls in want.items():
            with self.subTest(code=code):
                err = errors.error_for(code)
                self.assertIs(type(err), cls)
                self.assertEqual(err.code, code)
                self.assertIsInstance(err, shmring.ShmringError)
                self.assertTrue(str(err), "an error without a message")

    def test_unknown_code_is_other(self) -> None:
        err = errors.error_for(-1234)
        self.assertIsInstance(err, shmring.OtherError)
        self.assertEqual(err.code, -1234)

    def test_builtin_bases(self) -> None:
        self.assertTrue(issubclass(shmring.Timeout, TimeoutError))
        self.assertTrue(issubclass(shmring.EndOfStream, EOFError))
        self.assertTrue(issubclass(shmring.Exists, FileExistsError))
        self.assertTrue(issubclass(shmring.NotFound, FileNotFoundError))
        self.assertTrue(issubclass(shmring.PermissionDenied, PermissionError))
        self.assertTrue(issubclass(shmring.InvalidArgument, ValueError))
        self.assertFalse(issubclass(shmring.Closed, EOFError))


if __name__ == "__main__":
    unittest.main()
