// Go equivalents of bench/sync_bench.c (same workloads, same RESULT line).
//
//	syncbench lock|fanin|pingpong [--n N] [--m M]
//
// Run it with GOMAXPROCS=1 to compare with single-threaded runtimes (as the
// peers in ../shared/peers do); bench/run_sync_bench.sh does.
//
//	lock:     N goroutines x M rounds of Lock; count++; Gosched(); Unlock.
//	fanin:    N goroutines each send M items into one channel of capacity
//	          1000 (Go's queue) drained by one receiver; ns per item.
//	pingpong: a token bounced through two capacity-1 channels.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func lockBench(n, m int) string {
	if n <= 0 {
		n = 10
	}
	total := 100000
	if m > 0 {
		total = m * n
	}
	rounds := total / n
	var mu sync.Mutex
	count := 0
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				mu.Lock()
				count++
				runtime.Gosched()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	dt := time.Since(t0)
	if count != rounds*n {
		os.Exit(1)
	}
	return fmt.Sprintf("name=lock impl=go n=%d m=%d elapsed_s=%.6f ns_per_op=%.1f",
		n, rounds, dt.Seconds(), float64(dt.Nanoseconds())/float64(count))
}

func faninBench(n, m int) string {
	if n <= 0 {
		n = 10000
	}
	if m <= 0 {
		m = 10
	}
	q := make(chan int, 1000)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			for k := 0; k < m; k++ {
				q <- 1
			}
		}()
	}
	got := 0
	for got < n*m {
		got += <-q
	}
	dt := time.Since(t0)
	return fmt.Sprintf("name=fanin impl=go n=%d m=%d elapsed_s=%.6f ns_per_op=%.1f",
		n, m, dt.Seconds(), float64(dt.Nanoseconds())/float64(got))
}

func pingpongBench(m int) string {
	if m <= 0 {
		m = 1000000
	}
	ping, pong := make(chan int, 1), make(chan int, 1)
	go func() {
		for i := 0; i < m; i++ {
			pong <- <-ping
		}
	}()
	v := 0
	t0 := time.Now()
	for i := 0; i < m; i++ {
		ping <- v + 1
		v = <-pong
	}
	dt := time.Since(t0)
	return fmt.Sprintf("name=pingpong impl=go m=%d elapsed_s=%.6f ns_per_op=%.1f",
		m, dt.Seconds(), float64(dt.Nanoseconds())/float64(m))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: syncbench lock|fanin|pingpong [--n N] [--m M]")
		os.Exit(64)
	}
	which := os.Args[1]
	fs := flag.NewFlagSet(which, flag.ExitOnError)
	n := fs.Int("n", -1, "tasks")
	m := fs.Int("m", -1, "rounds/items")
	fs.Parse(os.Args[2:])
	var line string
	switch which {
	case "lock":
		line = lockBench(*n, *m)
	case "fanin":
		line = faninBench(*n, *m)
	case "pingpong":
		line = pingpongBench(*m)
	default:
		os.Exit(64)
	}
	fmt.Println("RESULT " + line)
}
