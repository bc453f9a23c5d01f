package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fleetcron/fleetcron/pkg/devserver"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

const token = "cli-test-admin-token-0123456789"

func startDev(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		_ = os.Chmod(p, 0o755)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = devserver.Run(ctx, devserver.Config{Listener: ln, DataDir: dir, AdminToken: token,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: time.Second,
			Ready: func(url, _ string) { ready <- url }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case url := <-ready:
		return url
	case <-time.After(10 * time.Second):
		t.Fatal("dev server did not start")
	}
	return ""
}

func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(args, &out, io.Discard)
	return out.String(), err
}

func TestCLIAgainstDevServer(t *testing.T) {
	url := startDev(t)
	t.Setenv("FLEETCRON_URL", url)
	t.Setenv("FLEETCRON_TOKEN", token)

	out, err := cli(t, "jobs", "create", "--schedule", "*/10 * * * *", "--command", "echo from-cli", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var j fleetcron.Job
	if err := json.Unmarshal([]byte(out), &j); err != nil || j.Status != fleetcron.JobScheduled {
		t.Fatalf("create json: %q %v", out, err)
	}
	out, err = cli(t, "jobs", "list")
	if err != nil || !strings.Contains(out, j.ID) || !strings.Contains(out, "STATUS") {
		t.Fatalf("list table: %q %v", out, err)
	}
	out, err = cli(t, "jobs", "run", j.ID, "--output", "json")
	var r fleetcron.Run
	if err != nil || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("run: %q %v", out, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err = cli(t, "runs", "get", r.ID)
		if err == nil && strings.Contains(out, "succeeded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs get: %q %v", out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(out, "from-cli") {
		t.Fatalf("run output not shown: %q", out)
	}
	if out, err = cli(t, "runs", "list", j.ID); err != nil || !strings.Contains(out, r.ID) {
		t.Fatalf("runs list: %q %v", out, err)
	}
	for _, sub := range []string{"pause", "resume", "delete"} {
		if _, err := cli(t, "jobs", sub, j.ID); err != nil {
			t.Fatalf("jobs %s: %v", sub, err)
		}
	}
	out, err = cli(t, "tokens", "create", "--subject", "alice")
	if err != nil || !strings.Contains(out, "fct_") {
		t.Fatalf("tokens create: %q %v", out, err)
	}
}

func TestCLIErrorsAreOneLine(t *testing.T) {
	url := startDev(t)
	t.Setenv("FLEETCRON_URL", url)
	t.Setenv("FLEETCRON_TOKEN", token)
	_, err := cli(t, "jobs", "create", "--schedule", "5 25 * * *", "--command", "ls")
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "schedule") || strings.Contains(oneLine(err), "\n") {
		t.Fatalf("bad schedule: %v", err)
	}
	if _, err := cli(t, "jobs", "get", "nosuchjob"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown job: %v", err)
	}
	if _, err := cli(t, "jobs", "get", "x", "--token", "wrong-token-wrong-token"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("bad token: %v", err)
	}
	if _, err := cli(t, "bogus"); err == nil {
		t.Fatal("unknown command accepted")
	}
	t.Setenv("FLEETCRON_TOKEN", "")
	if _, err := cli(t, "jobs", "list"); err == nil || !strings.Contains(err.Error(), "FLEETCRON_TOKEN") {
		t.Fatalf("no token: %v", err)
	}
}
