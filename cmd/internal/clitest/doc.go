// Package clitest holds what the tests of the shmring commands share:
// building commands into a temporary directory and running one to its end
// under a watchdog. Only tests import it.
package clitest
