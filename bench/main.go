// Command bench runs fleetcron's benchmarks (make bench, make bench-quick)
// and prints one table of figures, each beside a limit or baseline measured
// in the same run; see bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fleetcron/fleetcron/pkg/bench"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	quick := flag.Bool("quick", false, "small sizes (under 2 minutes; make test runs it)")
	out := flag.String("out", "", "also write the table to this file")
	rowsFlag := flag.String("rows", "", "comma-separated row numbers (default: all)")
	zips := flag.String("zips", "", "directory of make build's Lambda zips (row 8), e.g. bin/arm64")
	if bench.BarePollMode() {
		return bench.BarePoll()
	}
	flag.Parse()
	var rows []int
	for _, s := range strings.Split(*rowsFlag, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("-rows: %q is not a row number", s)
		}
		rows = append(rows, n)
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("run from the repository root (make bench): %w", err)
	}
	work, err := os.MkdirTemp("", "fleetcron-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer bench.Stop()

	start := time.Now()
	res, runErr := bench.Run(ctx, bench.Config{Quick: *quick, Root: root, Work: work, Zips: *zips, Rows: rows, Log: os.Stderr})
	size := "full sizes"
	if *quick {
		size = "quick sizes"
	}
	host, _ := os.Hostname()
	header := fmt.Sprintf("fleetcron benchmarks, %s, %s on %s (%d CPUs, %s/%s, %s), %s",
		size, start.UTC().Format("2006-01-02 15:04 UTC"), host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		runtime.Version(), time.Since(start).Round(time.Second))
	if *quick {
		header += "\n\nQuick sizes keep the benchmark from rotting; their spans are too short for some figures (row 6 sees no 30 s heartbeat in 10 s): read the full run's."
	}
	table := bench.Table(res, header)
	fmt.Print(table)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(table), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "bench: table written to", *out)
	}
	return runErr
}
