// spawn+wait of `true` with os/exec: N children, C goroutines each running
// N/C one after another. Same output format as `corio-bench process`.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 2000, "children")
	c := flag.Int("concurrency", 100, "at a time")
	flag.Parse()
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := false
	t0 := time.Now()
	for i := 0; i < *c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < *n / *c; k++ {
				if err := exec.Command("true").Run(); err != nil {
					mu.Lock()
					failed = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	dt := time.Since(t0).Seconds()
	if failed {
		os.Exit(1)
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("RESULT name=process impl=go n=%d concurrency=%d elapsed_s=%.6f spawns_per_s=%.0f hwm_kb=%d\n",
		*n, *c, dt, float64(*n)/dt, ru.Maxrss)
}
