// Package worker is the agent side of fleetcron's protocol, shared by the
// in-process workers of the dev server and the EC2 agent: long-poll a pool's
// queue with as many receives as free slots, claim the run (a fenced lease),
// fetch and verify its executable, run it, heartbeat (lease and message
// visibility) while it runs, write the result back fenced on the lease, and
// delete the message. On stop it drains: no more polling, running runs get a
// deadline to finish, the rest are handed back for another agent.
package worker

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/runner"
)

// Defaults of a Worker.
const (
	DefaultLease        = 60 * time.Second
	DefaultPollWait     = 20 * time.Second
	DefaultDrainTimeout = 30 * time.Second
	DefaultSlots        = 4
)

// Runs is what a worker needs of the run store.
type Runs interface {
	fleetcron.Leaser
	fleetcron.RunReader
	fleetcron.RunFinisher
}

// Outcome is told about every run that ends, so its job's status follows.
type Outcome interface {
	RecordRun(ctx context.Context, r *fleetcron.Run) error
}

// Fetcher gives a local, verified path for an executable stored by sha256.
// It returns an error wrapping fleetcron.ErrHashMismatch when the stored
// object is not what was uploaded.
type Fetcher interface {
	Fetch(ctx context.Context, sum string) (path string, err error)
}

// Executor runs a process (runner.Run).
type Executor func(ctx context.Context, spec runner.Spec) (runner.Result, error)

// Config configures a Worker. Zero values take the defaults.
type Config struct {
	// ID names this worker (agent id); lease owners are ID/slot.
	ID    string
	Pools []string
	Slots int
	// Lease is the lease and visibility timeout; heartbeats every Lease/3.
	Lease time.Duration
	// PollWait is the long-poll wait of a receive.
	PollWait time.Duration
	// DrainTimeout is how long running runs may go on after Stop.
	DrainTimeout time.Duration
	// User runs jobs that ask for no user ("" = the worker's own user).
	User string
	// AllowRoot lets runs with run_as root run as root (the API lets only
	// admins ask for it). When false, such runs fail with a reason.
	AllowRoot bool
	// OutputLimit is the output tail kept in the run record.
	OutputLimit int
	// FullOutputMax bounds the full output stored as a blob when it is
	// longer than the tail (DefaultFullOutputMax); 0 with no output store.
	FullOutputMax int64
}

// DefaultFullOutputMax bounds the full output of a run kept in the blob store.
const DefaultFullOutputMax = 64 << 20

// Worker executes runs from queues.
type Worker struct {
	cfg     Config
	queue   fleetcron.Receiver
	runs    Runs
	outcome Outcome
	fetch   Fetcher
	outputs OutputStore
	exec    Executor
	now     func() time.Time
	log     *slog.Logger

	mu   sync.Mutex
	busy int
}

// Option configures a Worker.
type Option func(*Worker)

// WithClock sets the clock.
func WithClock(now func() time.Time) Option { return func(w *Worker) { w.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(w *Worker) { w.log = l } }

// OutputStore keeps a run's full output when it is longer than the tail the
// run record holds (S3 on AWS, the blob directory in dev mode).
type OutputStore interface {
	PutBlob(ctx context.Context, sum string, data []byte) error
}

// WithOutputStore stores full outputs longer than the tail.
func WithOutputStore(o OutputStore) Option { return func(w *Worker) { w.outputs = o } }

// WithExecutor replaces runner.Run (tests).
func WithExecutor(e Executor) Option { return func(w *Worker) { w.exec = e } }

// New returns a worker.
func New(cfg Config, queue fleetcron.Receiver, runs Runs, outcome Outcome, fetch Fetcher, opts ...Option) *Worker {
	if cfg.Slots <= 0 {
		cfg.Slots = DefaultSlots
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.PollWait <= 0 {
		cfg.PollWait = DefaultPollWait
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if len(cfg.Pools) == 0 {
		cfg.Pools = []string{fleetcron.DefaultPool}
	}
	if cfg.FullOutputMax <= 0 {
		cfg.FullOutputMax = DefaultFullOutputMax
	}
	if cfg.ID == "" {
		cfg.ID = fleetcron.NewID()
	}
	w := &Worker{cfg: cfg, queue: queue, runs: runs, outcome: outcome, fetch: fetch,
		exec: runner.Run, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(w)
	}
	w.log = w.log.With("agent", cfg.ID)
	return w
}

// Busy returns the number of runs in flight.
func (w *Worker) Busy() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.busy
}

// Config returns the worker's effective configuration.
func (w *Worker) Config() Config { return w.cfg }

// ErrDrained is the cancel cause of runs still going at the drain deadline.
var ErrDrained = errors.New("agent draining: run handed back")

// Run polls until ctx is done, then drains: it waits up to DrainTimeout for
// running runs, cancels and hands back the rest, and returns.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	slots := make(chan struct{}, w.cfg.Slots)
	for range w.cfg.Slots {
		slots <- struct{}{}
	}
	// Runs live on their own context: stopping the poll must not kill them.
	runCtx, cancelRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRuns(nil)
	slot := 0
	pool := 0
	for ctx.Err() == nil {
		// Wait for at least one free slot, then receive as many as are free.
		select {
		case <-ctx.Done():
			continue
		case <-slots:
		}
		free := 1
	more:
		for {
			select {
			case <-slots:
				free++
			default:
				break more
			}
		}
		p := w.cfg.Pools[pool%len(w.cfg.Pools)]
		pool++
		ds, err := w.queue.Receive(ctx, p, free, w.cfg.Lease, w.cfg.PollWait)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("receive failed", "pool", p, "err", err)
			sleep(ctx, time.Second)
		}
		for _, d := range ds {
			free--
			slot++
			owner := w.cfg.ID + "/" + strconv.Itoa(slot)
			w.mu.Lock()
			w.busy++
			w.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.handle(runCtx, p, owner, d)
				w.mu.Lock()
				w.busy--
				w.mu.Unlock()
				slots <- struct{}{}
			}()
		}
		for range free {
			slots <- struct{}{}
		}
	}

	// Drain.
	w.log.Info("draining", "busy", w.Busy(), "deadline", w.cfg.DrainTimeout)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.DrainTimeout):
		w.log.Warn("drain deadline reached; handing back running runs", "busy", w.Busy())
		cancelRuns(ErrDrained)
		<-done
	}
	w.log.Info("drained")
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
