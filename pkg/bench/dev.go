package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fleetcron/fleetcron/pkg/blobdir"
	"github.com/fleetcron/fleetcron/pkg/bolt"
	"github.com/fleetcron/fleetcron/pkg/devserver"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/jobs"
	"github.com/fleetcron/fleetcron/pkg/localcron"
	"github.com/fleetcron/fleetcron/pkg/runner"
)

// stampScript is the job of rows 1–3: it records its own start (bash's
// $EPOCHREALTIME, no extra process) with the job and the instant it is for.
const stampScript = `#!/bin/bash
printf '%s %s %s\n' "$FLEETCRON_JOB_ID" "$FLEETCRON_SCHEDULED_TIME" "$EPOCHREALTIME" >>"$BENCH_STAMPS"
`

// Dev server shape of rows 1–3: the `fleetcron dev` defaults.
const (
	devAgents = devserver.DefaultAgents
	devSlots  = 4
)

// populate stores n jobs in a fresh dev data directory, through the job
// service (validation, content, indexes) on a store without fsync: filling
// the directory is not what is measured.
func populate(ctx context.Context, dir string, n int, in func(i int) jobs.Input) ([]*fleetcron.Job, error) {
	db, err := bolt.Open(filepath.Join(dir, "fleetcron.db"), func(o *bolt.Options) { o.NoSync = true })
	if err != nil {
		return nil, err
	}
	defer db.Close()
	blobs, err := blobdir.New(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, err
	}
	js := jobs.New(db, db, blobs, localcron.New(nil), jobs.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	out := make([]*fleetcron.Job, 0, n)
	for i := range n {
		j, err := js.Create(ctx, jobs.Caller{ID: "bench", Admin: true}, in(i))
		if err != nil {
			return nil, fmt.Errorf("populate job %d: %w", i, err)
		}
		out = append(out, j)
	}
	return out, nil
}

// window is one measured stretch of the dev server: n jobs due at the
// minute boundary X (spread over 60 s when jitter is set), observed for
// span after X.
type window struct {
	n      int
	jitter bool
	span   time.Duration // fires due in [X, X+span) are counted
	grace  time.Duration // how long after X+span a fire may still start
	ack    bool          // acknowledge-only: no process, the run is acknowledged
}

// outcome is what a window measured.
type outcome struct {
	late     []time.Duration // one per counted fire; missing when it never started
	started  int
	missed   int
	dups     int           // a job started twice for one instant: never acceptable
	last     time.Duration // lateness of the last counted fire to start
	load     time.Duration // server start to API listening
	populate time.Duration
}

type stamp struct {
	job, sched string
	at         time.Time
}

func stampScriptInput(stamps string, jitter bool) func(int) jobs.Input {
	return func(i int) jobs.Input {
		typ := fleetcron.TypeScript
		in := jobs.Input{Type: &typ, Content: []byte(stampScript), Schedule: ptr("* * * * *"),
			Name: ptr("bench-" + strconv.Itoa(i)), TimeoutSec: ptr(60), Env: &map[string]string{"BENCH_STAMPS": stamps}}
		if jitter {
			in.JitterSec = ptr(60)
		}
		return in
	}
}

func ackInput(jitter bool) func(int) jobs.Input {
	return func(i int) jobs.Input {
		in := jobs.Input{Executable: ptr("true"), Schedule: ptr("* * * * *"), Name: ptr("bench-" + strconv.Itoa(i))}
		if jitter {
			in.JitterSec = ptr(60)
		}
		return in
	}
}

func ptr[T any](v T) *T { return &v }

// runWindow populates a data directory, starts the dev server in this
// process with its ticker's clock shifted so that the boundary X comes
// shortly after start, and reads each job's own start record.
func (e *env) runWindow(ctx context.Context, w window) (outcome, error) {
	var o outcome
	dir, err := e.dir("dev")
	if err != nil {
		return o, err
	}
	defer os.RemoveAll(dir)
	stamps := filepath.Join(dir, "stamps")
	f, err := os.OpenFile(stamps, os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		return o, err
	}
	f.Close()
	_ = os.Chmod(stamps, 0o666) // the unprivileged run user appends
	in := stampScriptInput(stamps, w.jitter)
	if w.ack {
		in = ackInput(w.jitter)
	}
	t0 := time.Now()
	js, err := populate(ctx, dir, w.n, in)
	if err != nil {
		return o, err
	}
	o.populate = time.Since(t0)

	var mu sync.Mutex
	var acked []stamp
	var exec func(ctx context.Context, spec runner.Spec) (runner.Result, error)
	if w.ack {
		exec = func(_ context.Context, spec runner.Spec) (runner.Result, error) {
			now := time.Now()
			mu.Lock()
			acked = append(acked, stamp{spec.Env["FLEETCRON_JOB_ID"], spec.Env["FLEETCRON_SCHEDULED_TIME"], now})
			mu.Unlock()
			return runner.Result{ExitCode: 0}, nil
		}
	}

	// The ticker's clock runs at real speed, shifted so that the server
	// starts `lead` before the boundary X.
	lead := 1500*time.Millisecond + time.Duration(w.n)*50*time.Microsecond
	realStart := time.Now()
	x := realStart.Truncate(time.Minute).Add(10 * time.Minute)
	offset := x.Sub(realStart.Add(lead))
	clock := func() time.Time { return time.Now().Add(offset) }

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return o, err
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return o, err
	}
	defer logf.Close()
	ready := make(chan struct{})
	srvCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	loadStart := time.Now()
	go func() {
		done <- devserver.Run(srvCtx, devserver.Config{Listener: ln, DataDir: dir, Agents: devAgents, Slots: devSlots,
			AdminToken: "bench-admin-token-0123456789", DrainTimeout: 5 * time.Second, Clock: clock, Executor: exec,
			Logger: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Ready:  func(string, string) { close(ready) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		return o, fmt.Errorf("dev server: %w", err)
	}
	o.load = time.Since(loadStart)
	if ahead := x.Sub(clock()); ahead < 100*time.Millisecond {
		stop()
		<-done
		return o, fmt.Errorf("the server took %s to start, past the boundary (lead %s)", o.load, lead)
	}

	// The fires counted, and when each is due.
	due := map[string]time.Time{}
	for _, j := range js {
		at := x
		if w.jitter {
			at = x.Add(localcron.JitterOffset(j.ID, x, time.Minute))
		}
		if at.Before(x.Add(w.span)) {
			due[j.ID] = at
		}
	}
	read := func() ([]stamp, error) {
		if w.ack {
			mu.Lock()
			defer mu.Unlock()
			return append([]stamp(nil), acked...), nil
		}
		return readStamps(stamps)
	}
	xs := x.UTC().Format(time.RFC3339Nano)
	count := func(ss []stamp) int {
		n := 0
		for _, s := range ss {
			if _, ok := due[s.job]; ok && s.sched == xs {
				n++
			}
		}
		return n
	}
	deadline := x.Add(w.span + w.grace)
	for {
		now := clock()
		ss, err := read()
		if err != nil {
			return o, err
		}
		if (count(ss) >= len(due) && !now.Before(x.Add(w.span))) || now.After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return o, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		return o, fmt.Errorf("dev server: %w", err)
	}
	if b, _ := os.ReadFile(logf.Name()); len(b) > 0 {
		e.logf("dev server warnings:\n%s", tail(b, 2000))
	}
	ss, err := read()
	if err != nil {
		return o, err
	}
	seen := map[string]time.Time{}
	for _, s := range ss {
		if s.sched != xs {
			continue
		}
		at, ok := due[s.job]
		if !ok {
			continue
		}
		if _, dup := seen[s.job]; dup {
			o.dups++
			continue
		}
		seen[s.job] = s.at.Add(offset)
		l := s.at.Add(offset).Sub(at)
		o.late = append(o.late, l)
		o.last = max(o.last, l)
	}
	o.started = len(o.late)
	for range len(due) - len(seen) {
		o.late = append(o.late, missing)
		o.missed++
	}
	if o.dups > 0 {
		return o, fmt.Errorf("%d runs started twice for one job and instant", o.dups)
	}
	return o, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// readStamps parses the stamp file: job, instant, start (seconds.micros).
func readStamps(path string) ([]stamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []stamp
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Fields(sc.Text())
		if len(p) != 3 {
			continue // a line being written
		}
		sec, frac, _ := strings.Cut(p[2], ".")
		s, err1 := strconv.ParseInt(sec, 10, 64)
		us, err2 := strconv.ParseInt((frac + "000000")[:6], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("stamp %q: not seconds.micros", p[2])
		}
		out = append(out, stamp{p[0], p[1], time.Unix(s, us*1000)})
	}
	return out, sc.Err()
}

// runUser is the user the dev server runs jobs as (nobody when root), for
// the bare baseline to spawn as the same user.
func runUser() (*syscall.Credential, error) {
	if os.Getuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// bareSpawn starts and reaps n copies of the stamp script, conc at a time,
// as the dev server's run user and in their own process groups like the
// runner, and returns the wall time.
func (e *env) bareSpawn(ctx context.Context, n, conc int) (time.Duration, error) {
	dir, err := e.dir("bare")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "stamp")
	if err := os.WriteFile(script, []byte(stampScript), 0o755); err != nil {
		return 0, err
	}
	stamps := filepath.Join(dir, "stamps")
	if err := os.WriteFile(stamps, nil, 0o666); err != nil {
		return 0, err
	}
	_ = os.Chmod(stamps, 0o666)
	cred, err := runUser()
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cmd := exec.CommandContext(ctx, script)
			cmd.Env = []string{"PATH=" + runner.BasePath, "FLEETCRON_JOB_ID=bare" + strconv.Itoa(i),
				"FLEETCRON_SCHEDULED_TIME=" + time.Now().UTC().Format(time.RFC3339), "BENCH_STAMPS=" + stamps}
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGKILL}
			if err := cmd.Run(); err != nil {
				mu.Lock()
				first = firstErr(first, fmt.Errorf("bare spawn: %w", err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if first != nil {
		return 0, first
	}
	ss, err := readStamps(stamps)
	if err != nil {
		return 0, err
	}
	if len(ss) != n {
		return 0, fmt.Errorf("bare spawn: %d of %d processes recorded their start", len(ss), n)
	}
	return took, nil
}

// firstErr returns a if set, else b.
func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

var errNoFires = errors.New("no fire was due in the observed span")

// lateness is row 1: jobs a minute spread over the seconds by a 60 s
// jitter window, lateness from each fire's due instant to the job's own
// start record.
func lateness(ctx context.Context, e *env) ([]Row, error) {
	n := e.size(1200, 10000)
	span := e.dur(8*time.Second, time.Minute)
	e.logf("row 1: %d jobs a minute spread over the seconds, observed for %s", n, span)
	o, err := e.runWindow(ctx, window{n: n, jitter: true, span: span, grace: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	if len(o.late) == 0 {
		return nil, errNoFires
	}
	spawn, err := e.bareSpawn(ctx, 200, 1)
	if err != nil {
		return nil, err
	}
	one := spawn / 200
	p50, p99 := pct(o.late, 50), pct(o.late, 99)
	measure := fmt.Sprintf("lateness, dev mode, %d jobs/min spread over 60 s (%d fires in %s)", n, len(o.late), span)
	return []Row{{N: 1, Measure: measure,
		Figure:   fmt.Sprintf("p50 %s, p99 %s, max %s, %d missed", ms(p50), ms(p99), ms(o.last), o.missed),
		Baseline: fmt.Sprintf("one bare spawn+reap of the same script %s", ms(one)),
		Ratio:    "p99 " + ratio(float64(p99), float64(one)) + " of a spawn",
		Ambition: "p99 ≤ 15 ms, 0 missed", Met: met(p99 <= 15*time.Millisecond && o.missed == 0)}}, nil
}

// burst is row 2: n runs due at one instant, time until the last starts,
// against spawning and reaping n bare processes as many at a time as the
// dev server runs.
func burst(ctx context.Context, e *env) ([]Row, error) {
	var rows []Row
	for _, n := range []int{e.size(200, 1000), e.size(500, 10000)} {
		e.logf("row 2: burst of %d runs due at one instant", n)
		o, err := e.runWindow(ctx, window{n: n, span: time.Nanosecond, grace: time.Duration(n)*20*time.Millisecond + 20*time.Second})
		if err != nil {
			return rows, err
		}
		bare, err := e.bareSpawn(ctx, n, devAgents*devSlots)
		if err != nil {
			return rows, err
		}
		fig := fmt.Sprintf("last started after %s (p50 %s)", ms(o.last), ms(pct(o.late, 50)))
		if o.missed > 0 {
			fig += fmt.Sprintf(", %d not started", o.missed)
		}
		r := float64(o.last) / float64(bare)
		rows = append(rows, Row{N: 2, Measure: fmt.Sprintf("burst: %d runs due at one instant", n), Figure: fig,
			Baseline: fmt.Sprintf("%d bare spawn+reap, %d at a time: %s", n, devAgents*devSlots, ms(bare)),
			Ratio:    ratio(float64(o.last), float64(bare)), Ambition: "≤ 1.2×", Met: met(r <= 1.2 && o.missed == 0)})
	}
	return rows, nil
}

// sustained is row 3: the highest steady rate (jobs spread over a minute
// by jitter) whose p99 lateness stays within 1 s, against the bare spawn
// rate; and the acknowledge-only rate (no process, every write durable) at
// saturation.
func sustained(ctx context.Context, e *env) ([]Row, error) {
	conc := devAgents * devSlots
	spawnN := e.size(500, 3000)
	bare, err := e.bareSpawn(ctx, spawnN, conc)
	if err != nil {
		return nil, err
	}
	spawnRate := float64(spawnN) / bare.Seconds()
	span := e.dur(4*time.Second, 15*time.Second)
	rates := []int{10, 40}
	if !e.Quick {
		rates = []int{25, 50, 100, 150, 200, 300, 400, 600, 800}
	}
	best, bestP99 := 0, time.Duration(0)
	var failed string
	for _, rate := range rates {
		e.logf("row 3: %d runs/s (%d jobs over a minute), observed for %s", rate, rate*60, span)
		o, err := e.runWindow(ctx, window{n: rate * 60, jitter: true, span: span, grace: time.Second})
		if err != nil {
			return nil, err
		}
		p99 := pct(o.late, 99)
		if p99 > time.Second {
			if p99 == missing {
				failed = fmt.Sprintf("; at %d/s over 1%% of the runs had not started 1 s after the span", rate)
			} else {
				failed = fmt.Sprintf("; at %d/s p99 %s", rate, ms(p99))
			}
			break
		}
		best, bestP99 = rate, p99
	}
	rows := []Row{{N: 3, Measure: fmt.Sprintf("sustained runs/s with p99 lateness ≤ 1 s (steps %v/s, %s each)", rates, span),
		Figure:   fmt.Sprintf("%d/s (p99 %s)%s", best, ms(bestP99), failed),
		Baseline: fmt.Sprintf("bare spawn+reap %d at a time: %.0f/s", conc, spawnRate),
		Ratio:    ratio(float64(best), spawnRate), Ambition: "≥ 0.8× the spawn rate",
		Met: met(float64(best) >= 0.8*spawnRate)}}
	if failed == "" {
		rows[0].Figure += " (every step held: the rate is a floor)"
	}

	n := e.size(1000, 20000)
	e.logf("row 3: acknowledge-only, %d runs due at one instant", n)
	o, err := e.runWindow(ctx, window{n: n, ack: true, span: time.Nanosecond, grace: time.Duration(n)*10*time.Millisecond + 20*time.Second})
	if err != nil {
		return rows, err
	}
	rate := float64(o.started) / o.last.Seconds()
	fig := fmt.Sprintf("%.0f runs/s (%d acknowledged in %s)", rate, o.started, ms(o.last))
	if o.missed > 0 {
		fig += fmt.Sprintf(", %d not acknowledged", o.missed)
	}
	rows = append(rows, Row{N: 3, Measure: fmt.Sprintf("acknowledge-only runs/s, durable (fsync), %d due at once", n),
		Figure: fig, Baseline: fmt.Sprintf("bare spawn+reap %.0f/s", spawnRate), Ratio: ratio(rate, spawnRate),
		Ambition: "≥ 20,000/s", Met: met(rate >= 20000 && o.missed == 0)})
	return rows, nil
}
