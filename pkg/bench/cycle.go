package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	fcevents "github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/blobcache"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/internal/awstest"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
	"github.com/fleetcron/fleetcron/pkg/jobs"
	"github.com/fleetcron/fleetcron/pkg/worker"
)

// call is one SDK call the App or the worker made.
type call struct {
	op     string
	params any
	result any
	failed bool // answered with an error
}

// recorder keeps the SDK calls completed while it is on.
type recorder struct {
	mu    sync.Mutex
	on    bool
	calls []call
}

func (r *recorder) option(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("fleetcronBenchRecord",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				r.mu.Lock()
				if r.on {
					r.calls = append(r.calls, call{op: awsmiddleware.GetOperationName(ctx), params: in.Parameters, result: out.Result, failed: err != nil})
				}
				r.mu.Unlock()
				return out, md, err
			}), middleware.After)
	})
}

func (r *recorder) start() {
	r.mu.Lock()
	r.on, r.calls = true, nil
	r.mu.Unlock()
}

// stop returns the calls in the order they completed, except that a send
// goes before the receive it fed: the receiver may hear of the message
// before the sender hears back.
func (r *recorder) stop() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	calls := r.calls
	for i := 1; i < len(calls); i++ {
		if _, send := calls[i].params.(*awssqs.SendMessageInput); !send {
			continue
		}
		for k := i; k > 0; k-- {
			if _, recv := calls[k-1].params.(*awssqs.ReceiveMessageInput); !recv {
				break
			}
			calls[k-1], calls[k] = calls[k], calls[k-1]
		}
	}
	return calls
}

// deleteHook tells when the worker deletes a run's message: the last step
// of a run.
type deleteHook struct {
	fleetcron.Receiver
	deleted chan struct{}
}

func (h deleteHook) Delete(ctx context.Context, pool, receipt string) error {
	err := h.Receiver.Delete(ctx, pool, receipt)
	h.deleted <- struct{}{}
	return err
}

// awsCycle is row 8: one fire → run → status through the fire handler and
// the agent's worker on moto, against the same SDK calls made bare; and the
// Lambda zips' sizes.
func awsCycle(ctx context.Context, e *env) ([]Row, error) {
	cycles := e.size(5, 30)
	e.logf("row 8: %d fire → run → status cycles on moto, then the same calls bare", cycles)
	rec := &recorder{}
	d, err := deploy(ctx, rec.option)
	if err != nil {
		return nil, err
	}
	j, err := d.app.Jobs.Create(ctx, jobs.Caller{ID: "bench", Admin: true}, jobs.Input{
		Executable: ptr("true"), Schedule: ptr("* * * * *")})
	if err != nil {
		return nil, err
	}
	cacheDir, err := e.dir("cycle-cache")
	if err != nil {
		return nil, err
	}
	cache, err := blobcache.New(cacheDir, d.app.Blobs, 0)
	if err != nil {
		return nil, err
	}
	hook := deleteHook{Receiver: d.app.Queue, deleted: make(chan struct{}, 1)}
	// A short long-poll: a receive the stopped worker leaves behind goes on
	// inside moto for its wait and would take a replayed message.
	const pollWait = 2 * time.Second
	w := worker.New(worker.Config{ID: "bench", Slots: 1, PollWait: pollWait}, hook, d.app.Store, d.app.Jobs, cache,
		worker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), worker.WithOutputStore(d.app.Blobs))
	wctx, stopWorker := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() { _ = w.Run(wctx); close(wdone) }()
	defer func() { stopWorker(); <-wdone }()
	time.Sleep(500 * time.Millisecond) // the first long poll is out

	db := ddb.NewFromConfig(d.awsCfg)
	type cycle struct {
		took   time.Duration
		before []map[string]ddbtypes.AttributeValue
		calls  []call
	}
	var cs []cycle
	base := time.Now().Truncate(time.Minute)
	for i := range cycles {
		items, err := scanAll(ctx, db, d.cfg.Table)
		if err != nil {
			return nil, err
		}
		at := base.Add(-time.Duration(i+1) * time.Minute)
		rec.start()
		t0 := time.Now()
		if err := d.app.HandleFire(ctx, fcevents.Fire{JobID: j.ID, ScheduledTime: at.UTC().Format(time.RFC3339)}); err != nil {
			return nil, err
		}
		select {
		case <-hook.deleted:
		case <-time.After(30 * time.Second):
			return nil, errors.New("run not finished within 30 s")
		}
		took := time.Since(t0)
		cs = append(cs, cycle{took: took, before: items, calls: rec.stop()})
		r, err := d.app.Store.GetRun(ctx, fleetcron.RunID(j.ID, at))
		if err != nil {
			return nil, err
		}
		if r.State != fleetcron.RunSucceeded {
			return nil, fmt.Errorf("run %s ended %s: %s", r.ID, r.State, r.Reason)
		}
	}
	stopWorker()
	<-wdone
	time.Sleep(pollWait + 500*time.Millisecond)

	// The same calls, bare, each cycle on the state it started from.
	sq := awssqs.NewFromConfig(d.awsCfg)
	var ours, bare []time.Duration
	differ := 0
	for _, c := range cs {
		if err := emptyMoto(ctx, d, c.before); err != nil {
			return nil, err
		}
		t0 := time.Now()
		n, err := replay(ctx, db, sq, c.calls)
		if err != nil {
			return nil, err
		}
		differ += n
		if err := exec.CommandContext(ctx, "/bin/sh", "-c", "true").Run(); err != nil { // the job's process
			return nil, err
		}
		bare = append(bare, time.Since(t0))
		ours = append(ours, c.took)
	}
	if differ > 0 {
		return nil, fmt.Errorf("%d replayed calls were answered otherwise than in the cycles: the replay is not the same work", differ)
	}
	var ops []string
	for _, c := range cs[len(cs)-1].calls {
		ops = append(ops, c.op)
	}
	e.logf("row 8: the calls of one cycle: %v", ops)
	po, pb := pct(ours, 50), pct(bare, 50)
	rows := []Row{{N: 8, Measure: fmt.Sprintf("AWS mode on moto: fire → run → status, %d cycles, %d SDK calls each", cycles, len(cs[len(cs)-1].calls)),
		Figure:   "p50 " + ms(po) + ", p90 " + ms(pct(ours, 90)),
		Baseline: "the same calls bare, one after another, plus sh -c true: p50 " + ms(pb),
		Ratio:    ratio(float64(po), float64(pb)), Ambition: "≤ 1.25×", Met: met(float64(po) <= 1.25*float64(pb))}}

	sizes, err := e.zips()
	if err != nil {
		return rows, err
	}
	var biggest int64
	fig := ""
	for _, f := range []string{"api", "fire", "sweeper"} {
		biggest = max(biggest, sizes[f])
		fig += fmt.Sprintf("%s %.1f MB, ", f, float64(sizes[f])/(1<<20))
	}
	rows = append(rows, Row{N: 8, Measure: "Lambda zips of make build (" + filepath.Base(e.Zips) + ", provided.al2023)", Figure: fig[:len(fig)-2],
		Baseline: "limit 10 MB", Ratio: ratio(float64(biggest), 10<<20), Ambition: "≤ 10 MB", Met: met(biggest <= 10<<20)})
	return rows, nil
}

func scanAll(ctx context.Context, db *ddb.Client, table string) ([]map[string]ddbtypes.AttributeValue, error) {
	var items []map[string]ddbtypes.AttributeValue
	p := ddb.NewScanPaginator(db, &ddb.ScanInput{TableName: &table})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		items = append(items, out.Items...)
	}
	return items, nil
}

// emptyMoto resets moto to the table holding items and empty queues.
func emptyMoto(ctx context.Context, d *deployment, items []map[string]ddbtypes.AttributeValue) error {
	if err := emulator.ResetMoto(d.endpoint); err != nil {
		return err
	}
	if _, err := awstest.Create(ctx, d.awsCfg, awstest.Config()); err != nil { // the same queue URLs
		return err
	}
	db := ddb.NewFromConfig(d.awsCfg)
	for _, it := range items {
		if _, err := db.PutItem(ctx, &ddb.PutItemInput{TableName: &d.cfg.Table, Item: it}); err != nil {
			return fmt.Errorf("restore item: %w", err)
		}
	}
	return nil
}

// replay makes the recorded calls again with the plain clients, in order,
// swapping in the receipt handles this replay receives.
func replay(ctx context.Context, db *ddb.Client, sq *awssqs.Client, calls []call) (differ int, _ error) {
	// A cycle's receipt handles are this replay's: by the original's,
	// else the last received (moto now and then delivers a message twice;
	// the agent drops the second delivery, the replay may not get one).
	receipts := map[string]string{}
	last := ""
	swap := func(h *string) *string {
		if h != nil {
			if n, ok := receipts[*h]; ok {
				return &n
			}
		}
		return &last
	}
	var err error
	for _, c := range calls {
		switch in := c.params.(type) {
		case *ddb.GetItemInput:
			_, err = db.GetItem(ctx, in)
		case *ddb.PutItemInput:
			_, err = db.PutItem(ctx, in)
		case *ddb.UpdateItemInput:
			_, err = db.UpdateItem(ctx, in)
		case *ddb.QueryInput:
			_, err = db.Query(ctx, in)
		case *ddb.TransactWriteItemsInput:
			_, err = db.TransactWriteItems(ctx, in)
		case *awssqs.SendMessageInput:
			_, err = sq.SendMessage(ctx, in)
		case *awssqs.ReceiveMessageInput:
			// The message was sent before: a short wait covers moto
			// showing it a moment late, and a second delivery that the
			// replay does not get costs at most a second.
			cp := *in
			cp.WaitTimeSeconds = 1
			var out *awssqs.ReceiveMessageOutput
			out, err = sq.ReceiveMessage(ctx, &cp)
			if was, ok := c.result.(*awssqs.ReceiveMessageOutput); ok && out != nil {
				for i := range min(len(was.Messages), len(out.Messages)) {
					receipts[aws.ToString(was.Messages[i].ReceiptHandle)] = aws.ToString(out.Messages[i].ReceiptHandle)
				}
				for _, m := range out.Messages {
					last = aws.ToString(m.ReceiptHandle)
				}

			}
		case *awssqs.DeleteMessageInput:
			cp := *in
			cp.ReceiptHandle = swap(in.ReceiptHandle)
			_, err = sq.DeleteMessage(ctx, &cp)
		case *awssqs.ChangeMessageVisibilityInput:
			cp := *in
			cp.ReceiptHandle = swap(in.ReceiptHandle)
			_, err = sq.ChangeMessageVisibility(ctx, &cp)
		default:
			return 0, fmt.Errorf("replay: no bare call for %s (%T)", c.op, c.params)
		}
		var cond *ddbtypes.ConditionalCheckFailedException
		if err != nil && !errors.As(err, &cond) { // a refused condition replays as it happened
			return 0, fmt.Errorf("replay %s: %w", c.op, err)
		}
		if (err != nil) != c.failed {
			differ++
		}
	}
	return differ, nil
}

// zips returns the sizes of the Lambda zips make build wrote to e.Zips.
func (e *env) zips() (map[string]int64, error) {
	if e.Zips == "" {
		return nil, errors.New("no directory of Lambda zips: run make build and pass -zips bin/arm64 (make bench does)")
	}
	out := map[string]int64{}
	for _, f := range []string{"api", "fire", "sweeper"} {
		fi, err := os.Stat(filepath.Join(e.Zips, f+".zip"))
		if err != nil {
			return nil, fmt.Errorf("Lambda zip (make build writes it): %w", err)
		}
		out[f] = fi.Size()
	}
	return out, nil
}
