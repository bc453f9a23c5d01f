package dynamodb_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/dynamodb"
	"github.com/fleetcron/fleetcron/pkg/fire"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
	"github.com/fleetcron/fleetcron/pkg/sqs"
	"github.com/fleetcron/fleetcron/pkg/worker"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// awsRig is the fire path on AWS adapters: the store on DynamoDB Local (its
// conditional writes are atomic), the queue on moto's SQS.
type awsRig struct {
	store *dynamodb.Store
	queue *sqs.Queue
}

func newAWSRig(t *testing.T) *awsRig {
	store := newStore(t, emulator.DynamoDBLocal(t))
	client := awssqs.NewFromConfig(emulator.Config(emulator.Moto(t)))
	urls, err := sqs.Provision(context.Background(), client, "fc-"+fleetcron.NewID()[:8], []string{fleetcron.DefaultPool}, 5)
	if err != nil {
		t.Fatal(err)
	}
	return &awsRig{store: store, queue: sqs.New(client, urls)}
}

func (r *awsRig) job(t *testing.T, command string) *fleetcron.Job {
	now := time.Now().UTC()
	j := &fleetcron.Job{ID: fleetcron.NewID(), Executable: command, Schedule: "* * * * *", Owner: "t", CreatedAt: now, UpdatedAt: now, Version: 1}
	j.ApplyDefaults()
	if err := r.store.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// drain counts the messages of the pool (receiving and deleting them).
func (r *awsRig) drain(t *testing.T) int {
	n := 0
	for {
		ds, err := r.queue.Receive(context.Background(), fleetcron.DefaultPool, 10, time.Minute, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			return n
		}
		for _, d := range ds {
			_ = r.queue.Delete(context.Background(), fleetcron.DefaultPool, d.Receipt)
			n++
		}
	}
}

// 100 concurrent deliveries of one (job, scheduled time) against DynamoDB
// Local make exactly one run and one message.
func TestHundredConcurrentFires(t *testing.T) {
	r := newAWSRig(t)
	j := r.job(t, "true")
	svc := fire.New(r.store, r.store, r.queue, fire.WithLogger(quiet))
	at := time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 100 {
		wg.Go(func() {
			if _, err := svc.Fire(context.Background(), events.Fire{JobID: j.ID, ScheduledTime: at.Format(time.RFC3339)}); err != nil {
				failed.Add(1)
				t.Error(err)
			}
		})
	}
	wg.Wait()
	page, err := r.store.ListRuns(context.Background(), fleetcron.RunQuery{JobID: j.ID})
	if err != nil || len(page.Runs) != 1 || !page.Runs[0].Enqueued {
		t.Fatalf("runs: %+v %v", page.Runs, err)
	}
	if n := r.drain(t); n != 1 {
		t.Fatalf("messages = %d, want 1", n)
	}
}

// crashingSender fails its first send: the fire function died after the
// lock and before the send.
type crashingSender struct {
	fleetcron.Sender
	crashed atomic.Bool
}

func (c *crashingSender) Send(ctx context.Context, pool string, m events.RunMessage, d time.Duration) error {
	if c.crashed.CompareAndSwap(false, true) {
		return errors.New("injected: fire function killed between lock and send")
	}
	return c.Sender.Send(ctx, pool, m, d)
}

// A crash between lock and send: the retried delivery sends once, and the
// run executes exactly once.
func TestCrashBetweenLockAndSend(t *testing.T) {
	r := newAWSRig(t)
	dir := t.TempDir()
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		_ = os.Chmod(p, 0o777)
	}
	marks := filepath.Join(dir, "marks")
	j := r.job(t, "echo ran >> "+marks)
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	svc := fire.New(r.store, r.store, &crashingSender{Sender: r.queue}, fire.WithClock(clock),
		fire.WithSendLease(30*time.Second), fire.WithLogger(quiet))
	f := events.Fire{JobID: j.ID, ScheduledTime: now.Truncate(time.Minute).Format(time.RFC3339)}
	if _, err := svc.Fire(context.Background(), f); err == nil {
		t.Fatal("the crashed delivery reported success")
	}
	now = now.Add(31 * time.Second) // the Scheduler's retry comes after the send lease
	run, err := svc.Fire(context.Background(), f)
	if err != nil || !run.Enqueued {
		t.Fatalf("retried delivery: %+v %v", run, err)
	}
	for range 3 { // later duplicates change nothing
		if _, err := svc.Fire(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}

	w := worker.New(worker.Config{ID: "w", Lease: 3 * time.Second, PollWait: time.Second, DrainTimeout: time.Second},
		r.queue, r.store, nil, nil, worker.WithLogger(quiet))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := r.store.GetRun(context.Background(), run.ID)
		if err == nil && got.State.Terminal() {
			if got.State != fleetcron.RunSucceeded || got.Attempt != 1 {
				t.Fatalf("run %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run not done: %+v %v", got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	out, _ := os.ReadFile(marks)
	if n := strings.Count(string(out), "ran"); n != 1 {
		t.Fatalf("the run executed %d times, want 1", n)
	}
	if n := r.drain(t); n != 0 {
		t.Fatalf("%d messages left", n)
	}
}
