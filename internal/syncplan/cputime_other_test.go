//go:build !unix

package syncplan

import "time"

func cpuTime() time.Duration { return 0 }
