//go:build unix

package store_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) this process has used: the
// delivery benchmark reports it per delivery next to the throughput, since
// it does not move when other processes share the machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
