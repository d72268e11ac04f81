//go:build unix

package delivery_test

import (
	"syscall"
	"time"
)

// perfCPU is the CPU time (user and system) this process has used: the
// benchmarks report it per delivery next to wall time, since it does not
// move when other processes share the machine.
func perfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
