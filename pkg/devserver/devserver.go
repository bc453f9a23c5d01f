// Package devserver runs the whole of fleetcron in one process on loopback,
// with no AWS and no Docker: the HTTP API, the job and fire services, the
// in-process cron ticker in place of EventBridge Scheduler, a bbolt file in
// place of DynamoDB and SQS, a blob directory in place of S3, and in-process
// workers in place of EC2 agents. It is `fleetcron dev` and `make dev`.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/api"
	"github.com/fleetcron/fleetcron/pkg/blobcache"
	"github.com/fleetcron/fleetcron/pkg/blobdir"
	"github.com/fleetcron/fleetcron/pkg/bolt"
	"github.com/fleetcron/fleetcron/pkg/fire"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/jobs"
	"github.com/fleetcron/fleetcron/pkg/localcron"
	"github.com/fleetcron/fleetcron/pkg/tokens"
	"github.com/fleetcron/fleetcron/pkg/worker"
)

// Defaults of Config.
const (
	DefaultAddr    = "127.0.0.1:8080"
	DefaultDataDir = ".fleetcron"
	DefaultAgents  = 2
)

// Config configures the dev server.
type Config struct {
	Addr     string       // listen address (DefaultAddr); ignored when Listener is set
	Listener net.Listener // optional, e.g. a test's 127.0.0.1:0
	DataDir  string       // database, blobs and caches (DefaultDataDir)
	Agents   int          // in-process workers (DefaultAgents)
	Slots    int          // concurrent runs per worker (worker.DefaultSlots)
	Pools    []string     // pools the workers poll (["default"])
	// AdminToken is the admin token to accept (FLEETCRON_TOKEN); "" makes
	// a new one at every start, reported through Ready, replacing the last
	// generated one.
	AdminToken string
	// RunUser runs jobs that ask for no user. "" means "nobody" when the
	// server runs as root, else the server's own user.
	RunUser      string
	Lease        time.Duration
	DrainTimeout time.Duration
	Logger       *slog.Logger
	// Clock is the ticker's clock (time.Now). Benchmarks shift it so that
	// a minute boundary comes soon after start.
	Clock func() time.Time
	// Executor replaces the process runner of the in-process workers
	// (benchmarks: acknowledge-only runs that start no process).
	Executor worker.Executor
	// Ready is called once the API listens, with its URL and, when it was
	// generated, the admin token (else "").
	Ready func(url, generatedToken string)
}

const generatedTokenName = "dev-generated"

// Run serves until ctx is done, then shuts down: the API stops accepting,
// workers drain (runs finish or are handed back), the ticker stops and the
// database closes. A restart on the same DataDir keeps jobs, runs, tokens
// and queued messages.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.Agents <= 0 {
		cfg.Agents = DefaultAgents
	}
	if len(cfg.Pools) == 0 {
		cfg.Pools = []string{fleetcron.DefaultPool}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	runUser, err := defaultRunUser(cfg.RunUser)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("dev: data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(cfg.DataDir, "fleetcron.db"))
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer db.Close()
	blobs, err := blobdir.New(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	cache, err := blobcache.New(filepath.Join(cfg.DataDir, "cache"), blobs, 0)
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}

	var fires *fire.Service
	tickOpts := []localcron.Option{localcron.WithLogger(log), localcron.WithFinalErrors(fire.ErrIgnored, fleetcron.ErrNotFound, fleetcron.ErrInvalid)}
	if cfg.Clock != nil {
		tickOpts = append(tickOpts, localcron.WithClock(cfg.Clock))
	}
	ticker := localcron.New(func(ctx context.Context, f events.Fire) error {
		_, err := fires.Fire(ctx, f)
		return err
	}, tickOpts...)
	js := jobs.New(db, db, blobs, ticker, jobs.WithLogger(log))
	fires = fire.New(db, db, db, fire.WithOutcome(js), fire.WithLogger(log))
	js.SetFirer(fires)
	ts := tokens.New(db)

	token, err := adminToken(ctx, ts, cfg.AdminToken)
	if err != nil {
		return err
	}
	n, err := loadSchedules(ctx, db, ticker)
	if err != nil {
		return err
	}
	log.Info("schedules loaded", "jobs", n)

	ln := cfg.Listener
	if ln == nil {
		ln, err = net.Listen("tcp", cfg.Addr)
		if err != nil {
			return fmt.Errorf("dev: listen on %s: %w", cfg.Addr, err)
		}
	}
	srv := &http.Server{Handler: api.New(js, ts, db, api.WithLogger(log)), ReadHeaderTimeout: 10 * time.Second}

	var wg sync.WaitGroup
	tickCtx, stopTicker := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() { _ = ticker.Run(tickCtx) })
	workCtx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	for i := range cfg.Agents {
		opts := []worker.Option{worker.WithLogger(log), worker.WithOutputStore(blobs)}
		if cfg.Executor != nil {
			opts = append(opts, worker.WithExecutor(cfg.Executor))
		}
		w := worker.New(worker.Config{ID: "dev-" + strconv.Itoa(i+1), Pools: cfg.Pools, Slots: cfg.Slots,
			Lease: cfg.Lease, DrainTimeout: cfg.DrainTimeout, User: runUser, AllowRoot: true}, db, db, js, cache, opts...)
		workers.Go(func() { _ = w.Run(workCtx) })
		workers.Go(func() { w.Report(workCtx, db, worker.DefaultReportEvery, fleetcron.Agent{Version: "dev"}) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	log.Info("fleetcron dev server listening", "url", url, "data", cfg.DataDir, "agents", cfg.Agents, "pools", cfg.Pools, "run_user", runUser)
	if cfg.Ready != nil {
		cfg.Ready(url, token)
	}

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		log.Error("API server stopped", "err", err)
	}
	log.Info("shutting down: API first, then workers drain")
	shctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shctx)
	stopTicker()
	stopWorkers()
	workers.Wait()
	wg.Wait()
	log.Info("stopped")
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dev: serve: %w", err)
	}
	return nil
}

// defaultRunUser picks the unprivileged user jobs run as.
func defaultRunUser(u string) (string, error) {
	if u != "" {
		if _, err := user.Lookup(u); err != nil {
			return "", fmt.Errorf("dev: run user %q: %w", u, err)
		}
		return u, nil
	}
	if os.Getuid() == 0 {
		if _, err := user.Lookup("nobody"); err == nil {
			return "nobody", nil
		}
	}
	return "", nil
}

// adminToken makes the admin token valid: the given one, or a new one that
// replaces the previously generated one. It returns the generated token.
func adminToken(ctx context.Context, ts *tokens.Service, given string) (string, error) {
	if given != "" {
		if err := ts.Bootstrap(ctx, given); err != nil {
			return "", fmt.Errorf("dev: FLEETCRON_TOKEN: %w", err)
		}
		return "", nil
	}
	old, err := ts.List(ctx)
	if err != nil {
		return "", fmt.Errorf("dev: %w", err)
	}
	for _, t := range old {
		if t.Name == generatedTokenName {
			if err := ts.Revoke(ctx, t.ID); err != nil {
				return "", fmt.Errorf("dev: revoke previous generated token: %w", err)
			}
		}
	}
	tok, _, err := ts.Issue(ctx, "dev", generatedTokenName, fleetcron.RoleAdmin, "admin")
	if err != nil {
		return "", fmt.Errorf("dev: %w", err)
	}
	return tok, nil
}

// loadSchedules gives the ticker the schedule of every live job.
func loadSchedules(ctx context.Context, store fleetcron.JobStore, s fleetcron.Scheduler) (int, error) {
	n := 0
	q := fleetcron.JobQuery{Limit: fleetcron.MaxPageSize}
	for {
		p, err := store.ListJobs(ctx, q)
		if err != nil {
			return n, fmt.Errorf("dev: load schedules: %w", err)
		}
		for i := range p.Jobs {
			j := &p.Jobs[i]
			if j.Deleted() {
				continue
			}
			if err := s.PutSchedule(ctx, j); err != nil {
				return n, fmt.Errorf("dev: load schedule of job %s: %w", j.ID, err)
			}
			n++
		}
		if p.Next == "" {
			return n, nil
		}
		q.Cursor = p.Next
	}
}
