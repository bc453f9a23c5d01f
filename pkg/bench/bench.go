// Package bench measures fleetcron on the machine it runs on: how late jobs
// start, how many runs it sustains, what the API answers in, what a stored
// job and an idle or busy agent cost, and what the AWS path adds to the
// bare SDK calls. Every figure stands beside a limit or baseline measured
// in the same run on the same machine (bare process spawns, a bare SDK
// loop, an empty server), so the ratio holds on a noisy shared machine.
// `make bench` runs the full sizes, `make bench-quick` small ones; see
// bench/README.md for how each row is measured.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Config configures a benchmark run.
type Config struct {
	Quick bool   // small sizes (make bench-quick)
	Root  string // the repository (go build runs there)
	Work  string // scratch directory, removed by the caller
	Zips  string // where make build wrote the Lambda zips (row 8)
	// Rows selects rows by number (1–8); empty means all.
	Rows []int
	Log  io.Writer // progress
}

// Row is one line of the result table.
type Row struct {
	N        int    // the row number
	Measure  string // what is measured, with its size
	Figure   string // fleetcron's figure
	Baseline string // the limit or baseline, measured in the same run
	Ratio    string // figure against baseline
	Ambition string
	Met      string // "yes", "no" or "" when the ambition has no number to hold against
}

// env is what the rows share.
type env struct {
	Config
	bins map[string]string // built programs by package
}

func (e *env) logf(format string, args ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, "bench: "+format+"\n", args...)
	}
}

// size picks the quick or the full size.
func (e *env) size(quick, full int) int {
	if e.Quick {
		return quick
	}
	return full
}

func (e *env) dur(quick, full time.Duration) time.Duration {
	if e.Quick {
		return quick
	}
	return full
}

// dir makes a fresh scratch directory, readable by the unprivileged user
// jobs run as.
func (e *env) dir(name string) (string, error) {
	d, err := os.MkdirTemp(e.Work, name+"-")
	if err != nil {
		return "", fmt.Errorf("scratch dir: %w", err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		return "", fmt.Errorf("scratch dir: %w", err)
	}
	return d, nil
}

// build compiles a main package of the repository once.
func (e *env) build(ctx context.Context, pkg string) (string, error) {
	if p, ok := e.bins[pkg]; ok {
		return p, nil
	}
	out := filepath.Join(e.Work, "bin", filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = e.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	e.bins[pkg] = out
	return out, nil
}

type rowFunc func(ctx context.Context, e *env) ([]Row, error)

var rowFuncs = map[int]rowFunc{1: lateness, 2: burst, 3: sustained, 4: apiLatency, 5: memory, 6: idleAgent, 7: busyAgent, 8: awsCycle}

// Run measures the selected rows. A row that fails is reported in the
// table and in the returned error; the others still run.
func Run(ctx context.Context, cfg Config) ([]Row, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("bench: the figures are read from /proc: run on Linux")
	}
	e := &env{Config: cfg, bins: map[string]string{}}
	// Jobs run as an unprivileged user: it must reach the scratch files.
	if err := os.Chmod(cfg.Work, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	sel := cfg.Rows
	if len(sel) == 0 {
		sel = []int{1, 2, 3, 4, 5, 6, 7, 8}
	}
	var rows []Row
	var errs []error
	for _, n := range sel {
		f, ok := rowFuncs[n]
		if !ok {
			return rows, fmt.Errorf("bench: no row %d (rows are 1–8)", n)
		}
		start := time.Now()
		r, err := f(ctx, e)
		rows = append(rows, r...)
		if err != nil {
			errs = append(errs, fmt.Errorf("row %d: %w", n, err))
			rows = append(rows, Row{N: n, Measure: "failed", Figure: oneLine(err.Error())})
		}
		e.logf("row %d done in %s", n, time.Since(start).Round(100*time.Millisecond))
		if ctx.Err() != nil {
			break
		}
	}
	return rows, errors.Join(errs...)
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Table renders rows as a Markdown table.
func Table(rows []Row, header string) string {
	var b strings.Builder
	b.WriteString(header)
	b.WriteString("\n\n| # | measure | fleetcron | limit or baseline (same run) | ratio | ambition | met |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", r.N, cell(r.Measure), cell(r.Figure),
			cell(r.Baseline), cell(r.Ratio), cell(r.Ambition), cell(r.Met))
	}
	return b.String()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// met says whether a figure holds its ambition.
func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}
