package worker

import (
	"context"
	"os"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// DefaultReportEvery is how often an agent writes its heartbeat record.
const DefaultReportEvery = 30 * time.Second

// Report writes the worker's heartbeat record (behind GET /agents) every
// `every` until ctx is done, then once more with state "stopped". base
// carries the fields the caller knows (instance id, version).
func (w *Worker) Report(ctx context.Context, agents fleetcron.AgentStore, every time.Duration, base fleetcron.Agent) {
	if every <= 0 {
		every = DefaultReportEvery
	}
	base.ID = w.cfg.ID
	base.Pools, base.Slots = w.cfg.Pools, w.cfg.Slots
	if base.Hostname == "" {
		base.Hostname, _ = os.Hostname()
	}
	if base.StartedAt.IsZero() {
		base.StartedAt = w.now().UTC()
	}
	put := func(ctx context.Context, state string) {
		a := base
		a.State, a.Busy = state, w.Busy()
		a.SeenAt = w.now().UTC()
		a.ExpiresAt = a.SeenAt.Add(24 * time.Hour)
		if err := agents.PutAgent(ctx, &a); err != nil {
			w.log.Warn("agent heartbeat record not written", "err", err)
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		put(ctx, "polling")
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			put(wctx, "stopped")
			cancel()
			return
		case <-t.C:
		}
	}
}
