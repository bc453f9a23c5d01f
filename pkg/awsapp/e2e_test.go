package awsapp_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	fcevents "github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/awsapp"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/harness"
	"github.com/fleetcron/fleetcron/pkg/internal/awstest"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
	"github.com/fleetcron/fleetcron/pkg/internal/faultproxy"
)

var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fleetcron-agent-bin-")
	if err != nil {
		panic(err)
	}
	agentBin = filepath.Join(dir, "fleetcron-agent")
	if out, err := exec.Command("go", "build", "-o", agentBin, "github.com/fleetcron/fleetcron/agent").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build agent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	emulator.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

const adminToken = "e2e-admin-token-0123456789abcdef"

// deployment is fleetcron's AWS resources on moto and the App the Lambda
// functions would run, plus agent processes.
type deployment struct {
	t        *testing.T
	endpoint string // the counting proxy in front of moto
	proxy    *faultproxy.Proxy
	cfg      awsapp.Config
	app      *awsapp.App
	harness  *harness.Harness
	s3       *awss3.Client

	mu     sync.Mutex
	agents map[string]*exec.Cmd
	logs   map[string]*bytes.Buffer
}

func deploy(t *testing.T) *deployment {
	proxy := faultproxy.Start(t, emulator.Moto(t), 0, false, 1) // counts calls, injects nothing
	ep := proxy.URL
	ctx := context.Background()
	awsCfg := emulator.Config(ep)
	c := awstest.Config()
	c.AdminToken = adminToken
	c, err := awstest.Create(ctx, awsCfg, c)
	if err != nil {
		t.Fatal(err)
	}
	s3c := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) { o.UsePathStyle = true })
	app, err := awsapp.New(ctx, awsCfg, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{t: t, endpoint: ep, proxy: proxy, cfg: c, app: app, s3: s3c, agents: map[string]*exec.Cmd{}, logs: map[string]*bytes.Buffer{}}
	d.harness = harness.New(app.Schedules, func(ctx context.Context, input []byte) error {
		var f fcevents.Fire
		if err := json.Unmarshal(input, &f); err != nil {
			return err
		}
		return app.HandleFire(ctx, f)
	})
	t.Cleanup(d.stopAll)
	return d
}

// startAgent runs an agent process against the emulator.
func (d *deployment) startAgent(id string, extra ...string) { d.startAgentEnv(id, nil, extra...) }

// startAgentEnv runs an agent with extra environment variables.
func (d *deployment) startAgentEnv(id string, env []string, extra ...string) {
	d.t.Helper()
	args := append([]string{"--id", id, "--imds=false", "--lease", "3s", "--drain", "1s", "--report", "1s",
		"--user", "", "--cache-dir", filepath.Join(d.t.TempDir(), "cache")}, extra...)
	cmd := exec.Command(agentBin, args...)
	cmd.Env = append(awstest.AgentEnv(d.endpoint, d.cfg), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.mu.Lock()
	d.agents[id], d.logs[id] = cmd, &buf
	d.mu.Unlock()
}

func (d *deployment) signal(id string, sig syscall.Signal) {
	d.mu.Lock()
	cmd := d.agents[id]
	d.mu.Unlock()
	_ = cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			d.t.Fatalf("agent %s did not exit after %v", id, sig)
		}
		d.mu.Lock()
		delete(d.agents, id)
		d.mu.Unlock()
	}
}

// waitExit waits for an agent to exit by itself.
func (d *deployment) waitExit(id string, within time.Duration) {
	d.t.Helper()
	d.mu.Lock()
	cmd := d.agents[id]
	d.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			d.t.Fatalf("agent %s exited with %v\n%s", id, err, d.log(id))
		}
	case <-time.After(within):
		d.t.Fatalf("agent %s did not exit within %s\n%s", id, within, d.log(id))
	}
	d.mu.Lock()
	delete(d.agents, id)
	d.mu.Unlock()
}

// log returns what an agent wrote so far.
func (d *deployment) log(id string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if b := d.logs[id]; b != nil {
		return b.String()
	}
	return ""
}

func (d *deployment) stopAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, cmd := range d.agents {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if d.t.Failed() {
			d.t.Logf("agent %s output:\n%s", id, d.logs[id].String())
		}
	}
	d.agents = map[string]*exec.Cmd{}
}

// call sends an API Gateway HTTP API event to the API handler.
func (d *deployment) call(method, path, body string, out any) int {
	d.t.Helper()
	raw, query, _ := strings.Cut(path, "?")
	resp, err := d.app.HandleAPI(context.Background(), events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: raw, RawQueryString: query, Body: body,
		Headers: map[string]string{"authorization": "Bearer " + adminToken, "content-type": "application/json"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "e2e",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: raw, SourceIP: "127.0.0.1"}}})
	if err != nil {
		d.t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal([]byte(resp.Body), out); err != nil {
			d.t.Fatalf("%s %s: %v: %s", method, path, err, resp.Body)
		}
	}
	if resp.StatusCode >= 300 {
		d.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, resp.Body)
	}
	return resp.StatusCode
}

func (d *deployment) create(body string) fleetcron.Job {
	d.t.Helper()
	var j fleetcron.Job
	if code := d.call("POST", "/jobs", body, &j); code != http.StatusCreated {
		d.t.Fatalf("create job: %d", code)
	}
	return j
}

// fire delivers the job's schedules for a due instant through the harness.
func (d *deployment) fire(j fleetcron.Job, at time.Time) string {
	d.t.Helper()
	if n, err := d.harness.Fire(context.Background(), j.ID, at); err != nil || n == 0 {
		d.t.Fatalf("harness: %d %v", n, err)
	}
	return fleetcron.RunID(j.ID, at)
}

func (d *deployment) waitRun(id string, within time.Duration, cond func(*fleetcron.Run) bool) *fleetcron.Run {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r, err := d.app.Store.GetRun(context.Background(), id)
		if err == nil && cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("run %s: condition not met in %s; last %+v (%v)", id, within, r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// perRun formats the calls made between two snapshots, per run.
func perRun(before, after map[string]int, runs int) string {
	var ops []string
	for op := range after {
		if after[op] > before[op] {
			ops = append(ops, op)
		}
	}
	sort.Strings(ops)
	var b strings.Builder
	total := 0
	for _, op := range ops {
		n := after[op] - before[op]
		total += n
		fmt.Fprintf(&b, "  %-40s %6.1f\n", op, float64(n)/float64(runs))
	}
	fmt.Fprintf(&b, "  %-40s %6.1f\n", "total", float64(total)/float64(runs))
	return b.String()
}

func ended(r *fleetcron.Run) bool   { return r.State.Terminal() }
func running(r *fleetcron.Run) bool { return r.State == fleetcron.RunRunning }

func holder(r *fleetcron.Run) string { id, _, _ := strings.Cut(r.LeaseOwner, "/"); return id }

func TestEndToEndOnEmulators(t *testing.T) {
	d := deploy(t)
	ctx := context.Background()

	// The seed's session through the API function's handler.
	var seed map[string]any
	if code := d.call("POST", "/jobs", `{"executable":"ls -la","schedule":"5 * * * *","type":"command"}`, &seed); code != 201 || seed["status"] != "scheduled" {
		t.Fatalf("seed create: %d %v", code, seed)
	}
	var list []map[string]any
	if d.call("GET", "/jobs", "", &list); len(list) != 1 || list[0]["id"] != seed["id"] {
		t.Fatalf("seed list: %v", list)
	}
	var got map[string]any
	if code := d.call("GET", "/jobs/"+seed["id"].(string), "", &got); code != 200 || got["executable"] != "ls -la" {
		t.Fatalf("seed get: %d %v", code, got)
	}

	d.startAgent("agent-a")
	d.startAgent("agent-b")

	// A command, a script and a binary job each run once per due instant.
	echo, err := os.ReadFile("/bin/echo")
	if err != nil {
		t.Fatal(err)
	}
	cmdJob := d.create(`{"executable":"echo command says hi","schedule":"*/5 * * * *"}`)
	scriptJob := d.create(`{"type":"script","executable":"hi.sh","schedule":"*/5 * * * *","content":"` +
		base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho \"script says $1\"\n")) + `","args":["hello"]}`)
	binJob := d.create(`{"type":"binary","executable":"echo","schedule":"*/5 * * * *","content":"` +
		base64.StdEncoding.EncodeToString(echo) + `","args":["binary","says","hi"]}`)
	due := time.Now().UTC().Truncate(5 * time.Minute)
	before := d.proxy.Calls()
	for _, c := range []struct {
		job  fleetcron.Job
		want string
	}{{cmdJob, "command says hi"}, {scriptJob, "script says hello"}, {binJob, "binary says hi"}} {
		for _, at := range []time.Time{due, due.Add(5 * time.Minute)} {
			id := d.fire(c.job, at)
			d.fire(c.job, at) // a duplicate delivery of the same instant
			r := d.waitRun(id, 30*time.Second, ended)
			if r.State != fleetcron.RunSucceeded || !strings.Contains(r.Output, c.want) || r.Attempt != 1 {
				t.Fatalf("%s run at %s: %+v", c.job.Type, at, r)
			}
		}
		page, _ := d.app.Store.ListRuns(ctx, fleetcron.RunQuery{JobID: c.job.ID})
		if len(page.Runs) != 2 {
			t.Fatalf("%s job: %d runs for 2 instants", c.job.Type, len(page.Runs))
		}
	}
	t.Log("AWS API calls per successful run (6 runs, each delivered twice; fire function, two agents, the test's reads):\n" +
		perRun(before, d.proxy.Calls(), 6))

	// A tampered S3 object is refused.
	tampered := d.create(`{"type":"script","executable":"t.sh","schedule":"@daily","content":"` +
		base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho original\n")) + `"}`)
	if _, err := d.s3.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(d.cfg.Bucket), Key: aws.String(d.app.Blobs.Key(tampered.ContentSHA256)),
		Body: strings.NewReader("#!/bin/sh\necho pwned\n")}); err != nil {
		t.Fatal(err)
	}
	r := d.waitRun(d.fire(tampered, due), 30*time.Second, ended)
	if r.State != fleetcron.RunFailed || !strings.Contains(r.Reason, "sha256") || strings.Contains(r.Output, "pwned") {
		t.Fatalf("tampered run: %+v", r)
	}

	// kill -9 the agent running a job: the other runs it as attempt 2 once
	// the lease has expired, never both at once.
	slow := d.create(`{"executable":"echo attempt $FLEETCRON_ATTEMPT; if [ $FLEETCRON_ATTEMPT = 1 ]; then exec sleep 60; fi","schedule":"@daily"}`)
	id := d.fire(slow, due)
	first := d.waitRun(id, 30*time.Second, running)
	victim := holder(first)
	d.signal(victim, syscall.SIGKILL)
	second := d.waitRun(id, 40*time.Second, ended)
	if second.State != fleetcron.RunSucceeded || second.Attempt != 2 || !strings.Contains(second.Output, "attempt 2") {
		t.Fatalf("after kill -9: %+v", second)
	}
	if second.StartedAt.Before(first.LeaseExpiresAt) {
		t.Fatalf("attempt 2 started at %v, before attempt 1's lease expired at %v", second.StartedAt, first.LeaseExpiresAt)
	}
	d.startAgent(victim + "-2")

	// SIGTERM with a short drain: the run is handed back and completed by
	// the other agent; nothing lost.
	long := d.create(`{"executable":"echo try $FLEETCRON_ATTEMPT; if [ $FLEETCRON_ATTEMPT = 1 ]; then exec sleep 60; fi","schedule":"@daily"}`)
	id = d.fire(long, due)
	held := d.waitRun(id, 30*time.Second, running)
	d.signal(holder(held), syscall.SIGTERM)
	done := d.waitRun(id, 40*time.Second, ended)
	if done.State != fleetcron.RunSucceeded || done.Released != 1 || done.AttemptsUsed() != 1 || !strings.Contains(done.Output, "try 2") {
		t.Fatalf("after SIGTERM: %+v", done)
	}
	d.startAgent("agent-c")

	// Out of attempts: a run whose only attempt died ends lost, its job error.
	once := d.create(`{"executable":"exec sleep 60","schedule":"@daily","max_attempts":1}`)
	id = d.fire(once, due)
	held = d.waitRun(id, 30*time.Second, running)
	d.signal(holder(held), syscall.SIGKILL)
	lost := d.waitRun(id, 40*time.Second, ended)
	if lost.State != fleetcron.RunLost {
		t.Fatalf("after the last attempt died: %+v", lost)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, _ := d.app.Store.GetJob(ctx, once.ID)
		if j.Status == fleetcron.JobError {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job after a lost run: %s", j.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}

	var agents []fleetcron.Agent
	if d.call("GET", "/agents", "", &agents); len(agents) < 2 {
		t.Fatalf("agents: %+v", agents)
	}
}
