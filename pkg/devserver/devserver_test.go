package devserver_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/pkg/client"
	"github.com/fleetcron/fleetcron/pkg/devserver"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

const token = "dev-e2e-admin-token-0123456789"

// dataDir is a data directory the unprivileged run user can traverse (jobs
// run as nobody when the tests run as root).
func dataDir(t *testing.T) string {
	d := t.TempDir()
	for p := d; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		_ = os.Chmod(p, 0o755)
	}
	return d
}

// start runs a dev server on 127.0.0.1:0 and returns its client and a stop
// function that shuts it down and waits.
func start(t *testing.T, dir string) (*client.Client, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- devserver.Run(ctx, devserver.Config{Listener: ln, DataDir: dir, Agents: 2, AdminToken: token,
			Lease: 3 * time.Second, DrainTimeout: 2 * time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready:  func(url, _ string) { ready <- url }})
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatalf("dev server did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("dev server did not start within 10s")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev server: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("dev server did not stop within 20s")
		}
	}
	t.Cleanup(stop)
	return client.New(url, token), stop
}

func waitRun(t *testing.T, c *client.Client, id string, cond func(*fleetcron.Run) bool) *fleetcron.Run {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := c.GetRun(context.Background(), id)
		if err == nil && cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: last %+v, err %v", id, r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitJob(t *testing.T, c *client.Client, id string, status fleetcron.JobStatus) *fleetcron.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := c.GetJob(context.Background(), id)
		if err == nil && j.Status == status {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: want %s, last %+v, err %v", id, status, j, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ended(r *fleetcron.Run) bool { return r.State.Terminal() }

func TestDevServerEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir := dataDir(t)
	c, stop := start(t, dir)

	// The seed's session: create, list, get.
	seed, err := c.CreateJob(ctx, map[string]any{"executable": "ls -la", "schedule": "5 * * * *", "type": "command"})
	if err != nil || seed.Status != fleetcron.JobScheduled || seed.ID == "" {
		t.Fatalf("create: %+v %v", seed, err)
	}
	list, _, err := c.ListJobs(ctx, "", 0)
	if err != nil || len(list) != 1 || list[0].ID != seed.ID {
		t.Fatalf("list: %+v %v", list, err)
	}
	if got, err := c.GetJob(ctx, seed.ID); err != nil || got.Executable != "ls -la" {
		t.Fatalf("get: %+v %v", got, err)
	}

	// A script uploaded base64 runs (run now), and its output comes back.
	script := "#!/bin/sh\necho \"hello from $FLEETCRON_JOB_ID as $(id -un)\"\n"
	sj, err := c.CreateJob(ctx, map[string]any{"type": "script", "executable": "hello.sh", "schedule": "@daily",
		"content": base64.StdEncoding.EncodeToString([]byte(script))})
	if err != nil {
		t.Fatal(err)
	}
	var run fleetcron.Run
	if err := c.JobAction(ctx, sj.ID, "run", &run); err != nil {
		t.Fatal(err)
	}
	done := waitRun(t, c, run.ID, ended)
	if done.State != fleetcron.RunSucceeded || !strings.Contains(done.Output, "hello from "+sj.ID) {
		t.Fatalf("script run: %+v", done)
	}
	if os.Getuid() == 0 && !strings.Contains(done.Output, "as nobody") {
		t.Fatalf("a job without run_as ran privileged: %q", done.Output)
	}

	// The full output, past the tail the run record keeps, is kept too.
	big, _ := c.CreateJob(ctx, map[string]any{"executable": "head -c 100000 /dev/zero | tr '\\0' y; echo END", "schedule": "@daily"})
	if err := c.JobAction(ctx, big.ID, "run", &run); err != nil {
		t.Fatal(err)
	}
	bigRun := waitRun(t, c, run.ID, ended)
	req, _ := http.NewRequest("GET", c.URL()+"/runs/"+bigRun.ID+"/output", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if bigRun.OutputKey == "" || len(full) != 100004 || !strings.HasSuffix(string(full), "yEND\n") {
		t.Fatalf("full output: key %q, %d bytes", bigRun.OutputKey, len(full))
	}

	// A failing job turns the job error.
	fj, _ := c.CreateJob(ctx, map[string]any{"executable": "echo failing; exit 7", "schedule": "@daily"})
	if err := c.JobAction(ctx, fj.ID, "run", &run); err != nil {
		t.Fatal(err)
	}
	failed := waitRun(t, c, run.ID, ended)
	if failed.State != fleetcron.RunFailed || failed.ExitCode == nil || *failed.ExitCode != 7 {
		t.Fatalf("failing run: %+v", failed)
	}
	waitJob(t, c, fj.ID, fleetcron.JobError)

	// Delete turns a job finished and keeps its runs.
	var deleted fleetcron.Job
	if err := c.JobAction(ctx, sj.ID, "delete", &deleted); err != nil || deleted.Status != fleetcron.JobFinished {
		t.Fatalf("delete: %+v %v", deleted, err)
	}
	runs, _, err := c.ListRuns(ctx, sj.ID, "", 0)
	if err != nil || len(runs) != 1 || runs[0].ID != done.ID {
		t.Fatalf("runs after delete: %+v %v", runs, err)
	}
	// Run now of a finished job is a conflict, not a 500.
	var apiErr *client.Error
	if err := c.JobAction(ctx, sj.ID, "run", nil); !errors.As(err, &apiErr) || apiErr.Status != 409 {
		t.Fatalf("run a finished job: %v", err)
	}

	// A restart keeps jobs, runs and tokens.
	stop()
	c, _ = start(t, dir)
	if j, err := c.GetJob(ctx, sj.ID); err != nil || j.Status != fleetcron.JobFinished {
		t.Fatalf("after restart, deleted job: %+v %v", j, err)
	}
	if j, err := c.GetJob(ctx, fj.ID); err != nil || j.Status != fleetcron.JobError {
		t.Fatalf("after restart, failed job: %+v %v", j, err)
	}
	if r, err := c.GetRun(ctx, done.ID); err != nil || r.State != fleetcron.RunSucceeded || r.Output != done.Output {
		t.Fatalf("after restart, run: %+v %v", r, err)
	}
	list, _, _ = c.ListJobs(ctx, "", 0)
	if len(list) != 4 {
		t.Fatalf("after restart: %d jobs, want 4", len(list))
	}
	var agents []fleetcron.Agent
	if _, err := c.Do(ctx, "GET", "/agents", nil, &agents); err != nil || len(agents) < 2 {
		t.Fatalf("agents: %+v %v", agents, err)
	}
}

// A run in flight at shutdown is handed back and finished after a restart.
func TestShutdownHandsBackAndRestartFinishes(t *testing.T) {
	ctx := context.Background()
	dir := dataDir(t)
	mark := filepath.Join(dir, "mark")
	c, stop := start(t, dir)
	j, err := c.CreateJob(ctx, map[string]any{"schedule": "@daily",
		"executable": `if [ -e "$MARK" ]; then echo second; else touch "$MARK"; sleep 60; fi`,
		"env":        map[string]string{"MARK": mark}})
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o777) // the run user creates the mark
	var run fleetcron.Run
	if err := c.JobAction(ctx, j.ID, "run", &run); err != nil {
		t.Fatal(err)
	}
	waitRun(t, c, run.ID, func(r *fleetcron.Run) bool { return r.State == fleetcron.RunRunning })
	deadline := time.Now().Add(5 * time.Second)
	for _, err := os.Stat(mark); err != nil && time.Now().Before(deadline); _, err = os.Stat(mark) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	c, _ = start(t, dir)
	got := waitRun(t, c, run.ID, ended)
	if got.State != fleetcron.RunSucceeded || !strings.Contains(got.Output, "second") || got.Released != 1 {
		t.Fatalf("run after restart: %+v", got)
	}
}
