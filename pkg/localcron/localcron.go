// Package localcron is the embedded stand-in for EventBridge Scheduler: an
// in-process cron ticker that keeps one schedule per job and, at each due
// instant, hands events.Fire (job id, scheduled time) to the fire service
// exactly as Scheduler hands it to the fire function, retrying a failed
// delivery like Scheduler's retry policy. Like Scheduler it does not
// backfill instants missed while the process was down.
package localcron

import (
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/schedule"
)

// FireFunc delivers one fire. An error wrapping one of the final errors
// (see Ticker.final) is not retried.
type FireFunc func(ctx context.Context, f events.Fire) error

// Defaults of a Ticker.
const (
	DefaultConcurrency = 32
	DefaultRetries     = 3
	DefaultRetryDelay  = time.Second
	// MissedAfter is how late an instant may be before it is skipped as missed.
	MissedAfter = time.Minute
)

// Ticker fires jobs' schedules in process. It implements fleetcron.Scheduler
// and fleetcron.ScheduleReader.
type Ticker struct {
	fire        FireFunc
	now         func() time.Time
	log         *slog.Logger
	concurrency int
	retries     int
	retryDelay  time.Duration
	final       []error

	mu      sync.Mutex
	entries map[string]*entry
	due     dueHeap
	wake    chan struct{}
}

var (
	_ fleetcron.Scheduler      = (*Ticker)(nil)
	_ fleetcron.ScheduleReader = (*Ticker)(nil)
)

type entry struct {
	jobID    string
	expr, tz string
	spec     *schedule.Spec
	enabled  bool
	jitter   time.Duration
	next     time.Time // the scheduled instant
	fireAt   time.Time // next plus jitter
	index    int       // in the heap; -1 when not queued
}

// Option configures a Ticker.
type Option func(*Ticker)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(t *Ticker) { t.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(t *Ticker) { t.log = l } }

// WithConcurrency bounds concurrent fire deliveries (DefaultConcurrency).
func WithConcurrency(n int) Option { return func(t *Ticker) { t.concurrency = n } }

// WithRetries sets delivery retries and the first delay (doubling).
func WithRetries(n int, delay time.Duration) Option {
	return func(t *Ticker) { t.retries, t.retryDelay = n, delay }
}

// WithFinalErrors names errors that end a delivery without retry (for
// example the fire service's ErrIgnored and fleetcron.ErrNotFound).
func WithFinalErrors(errs ...error) Option { return func(t *Ticker) { t.final = errs } }

// New returns a ticker that delivers to fire. Call Run to start it.
func New(fire FireFunc, opts ...Option) *Ticker {
	t := &Ticker{fire: fire, now: time.Now, log: slog.Default(), concurrency: DefaultConcurrency,
		retries: DefaultRetries, retryDelay: DefaultRetryDelay,
		entries: map[string]*entry{}, wake: make(chan struct{}, 1)}
	for _, o := range opts {
		o(t)
	}
	return t
}

// PutSchedule creates or replaces the schedule of a job.
func (t *Ticker) PutSchedule(_ context.Context, j *fleetcron.Job) error {
	spec, err := schedule.Parse(j.Schedule, j.TimeZone)
	if err != nil {
		return fmt.Errorf("localcron: put schedule of job %s: %w", j.ID, errors.Join(fleetcron.ErrInvalid, err))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.entries[j.ID]; ok {
		t.unqueue(old)
	}
	e := &entry{jobID: j.ID, expr: j.Schedule, tz: j.TimeZone, spec: spec,
		enabled: !j.Paused && !j.Deleted(), jitter: time.Duration(j.JitterSec) * time.Second, index: -1}
	t.entries[j.ID] = e
	if e.enabled {
		t.schedule(e, t.now())
	}
	t.poke()
	return nil
}

// DeleteSchedule removes a job's schedule. Idempotent.
func (t *Ticker) DeleteSchedule(_ context.Context, jobID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[jobID]; ok {
		t.unqueue(e)
		delete(t.entries, jobID)
	}
	return nil
}

// GetSchedule returns what the ticker holds for a job.
func (t *Ticker) GetSchedule(_ context.Context, jobID string) (fleetcron.ScheduleInfo, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[jobID]
	if !ok {
		return fleetcron.ScheduleInfo{}, fmt.Errorf("localcron: schedule of job %s: %w", jobID, fleetcron.ErrNotFound)
	}
	return fleetcron.ScheduleInfo{JobID: jobID, Expressions: []string{e.expr}, TimeZone: e.tz,
		Enabled: e.enabled, Inputs: []string{events.FireTemplate(jobID, "a")}}, nil
}

// Next returns the next instant the job's schedule fires (zero if none).
func (t *Ticker) Next(jobID string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.entries[jobID]; ok && e.index >= 0 {
		return e.next
	}
	return time.Time{}
}

// Len returns the number of schedules held.
func (t *Ticker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// schedule queues e at its next instant after `after`. t.mu held.
func (t *Ticker) schedule(e *entry, after time.Time) {
	next := e.spec.Next(after)
	if next.IsZero() {
		return
	}
	e.next = next
	e.fireAt = next.Add(JitterOffset(e.jobID, next, e.jitter))
	heap.Push(&t.due, e)
}

// JitterOffset is how long after a scheduled instant a job with a jitter
// window (Scheduler's flexible time window) fires in process: a hash of the
// job and the instant, spread evenly over [0, jitter). Unlike Scheduler's
// random pick it is reproducible, so a test or a benchmark knows when each
// fire is due.
func JitterOffset(jobID string, scheduled time.Time, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(jobID))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(scheduled.UnixNano()))
	h.Write(b[:])
	return time.Duration(h.Sum64() % uint64(jitter))
}

func (t *Ticker) unqueue(e *entry) {
	if e.index >= 0 {
		heap.Remove(&t.due, e.index)
	}
}

func (t *Ticker) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Run delivers fires until ctx is done, then waits for deliveries in flight.
func (t *Ticker) Run(ctx context.Context) error {
	work := make(chan events.Fire, t.concurrency*4)
	var wg sync.WaitGroup
	for range t.concurrency {
		wg.Go(func() {
			for f := range work {
				t.deliver(ctx, f)
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		batch, wait := t.collect(t.now())
		for _, f := range batch {
			select {
			case work <- f:
			case <-ctx.Done():
				return nil
			}
		}
		if len(batch) > 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-t.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		}
	}
}

// collect pops the entries due at now, reschedules them, and returns their
// fires and how long until the next one is due.
func (t *Ticker) collect(now time.Time) (batch []events.Fire, wait time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.due.Len() > 0 && !t.due[0].fireAt.After(now) {
		e := heap.Pop(&t.due).(*entry)
		if now.Sub(e.next) > MissedAfter+e.jitter {
			t.log.Warn("schedule instants missed (process was not running); resuming from now",
				"job", e.jobID, "missed_since", e.next)
			t.schedule(e, now)
			continue
		}
		batch = append(batch, events.Fire{JobID: e.jobID, ScheduledTime: e.next.UTC().Format(time.RFC3339), Schedule: "a"})
		t.schedule(e, e.next)
	}
	wait = time.Hour
	if t.due.Len() > 0 {
		wait = t.due[0].fireAt.Sub(now)
	}
	return batch, wait
}

func (t *Ticker) deliver(ctx context.Context, f events.Fire) {
	delay := t.retryDelay
	for attempt := 0; ; attempt++ {
		err := t.fire(ctx, f)
		if err == nil {
			return
		}
		for _, fe := range t.final {
			if errors.Is(err, fe) {
				t.log.Debug("fire not retried", "job", f.JobID, "scheduled", f.ScheduledTime, "err", err)
				return
			}
		}
		if attempt >= t.retries || ctx.Err() != nil {
			t.log.Error("fire delivery failed; instant dropped after retries", "job", f.JobID,
				"scheduled", f.ScheduledTime, "attempts", attempt+1, "err", err)
			return
		}
		t.log.Warn("fire delivery failed; retrying", "job", f.JobID, "scheduled", f.ScheduledTime, "in", delay, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
		delay *= 2
	}
}

// dueHeap orders entries by fire time.
type dueHeap []*entry

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].fireAt.Before(h[j].fireAt) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
