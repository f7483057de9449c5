//go:build unix

package syncplan

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user + system) the process used so far; the
// benchmark reports it per op because wall time on a shared machine says
// more about the neighbours than about the planner.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
