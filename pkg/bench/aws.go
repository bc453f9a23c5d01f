package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	fcevents "github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/awsapp"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/internal/awstest"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
	"github.com/fleetcron/fleetcron/pkg/jobs"
)

// Stop stops the emulators the benchmarks started.
func Stop() { emulator.Stop() }

// deployment is fleetcron's resources on moto and the App its Lambda
// functions run.
type deployment struct {
	endpoint string
	awsCfg   aws.Config
	cfg      awsapp.Config
	app      *awsapp.App
}

// deploy empties moto and creates fleetcron's resources on it;
// apiOptions go to the App's clients (row 8 records its calls).
func deploy(ctx context.Context, apiOptions ...func(*aws.Config)) (*deployment, error) {
	ep, err := emulator.MotoEndpoint()
	if err != nil {
		return nil, err
	}
	if err := emulator.ResetMoto(ep); err != nil {
		return nil, err
	}
	d := &deployment{endpoint: ep, awsCfg: emulator.Config(ep)}
	if d.cfg, err = awstest.Create(ctx, d.awsCfg, awstest.Config()); err != nil {
		return nil, err
	}
	appCfg := d.awsCfg.Copy()
	for _, o := range apiOptions {
		o(&appCfg)
	}
	d.app, err = awsapp.New(ctx, appCfg, d.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, err
	}
	return d, nil
}

// agentProcess is a fleetcron-agent process polling the emulator.
type agentProcess struct {
	cmd *exec.Cmd
	log bytes.Buffer
}

func (e *env) startAgent(ctx context.Context, d *deployment, args ...string) (*agentProcess, error) {
	bin, err := e.build(ctx, "./agent")
	if err != nil {
		return nil, err
	}
	cache, err := e.dir("agent-cache")
	if err != nil {
		return nil, err
	}
	a := &agentProcess{}
	a.cmd = exec.Command(bin, append([]string{"--id", "bench", "--imds=false", "--user", "", "--cache-dir", cache, "--drain", "2s"}, args...)...)
	a.cmd.Env = awstest.AgentEnv(d.endpoint, d.cfg)
	a.cmd.Stdout, a.cmd.Stderr = &a.log, &a.log
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := a.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent: %w", err)
	}
	return a, nil
}

// stop drains the agent and waits for it.
func (a *agentProcess) stop() { stopProcess(a.cmd) }

// stopProcess sends SIGTERM and waits, killing the process after 30 s.
func stopProcess(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// The bare long-poll loop of row 6 is this program run again with
// barePollEnv naming the queue.
const barePollEnv = "FLEETCRON_BENCH_BAREPOLL"

// BarePollMode reports whether this process is row 6's bare poller.
func BarePollMode() bool { return os.Getenv(barePollEnv) != "" }

// BarePoll long-polls the queue named by FLEETCRON_BENCH_BAREPOLL with the
// plain SDK, forever: the least an agent could do while idle.
func BarePoll() error {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	c := awssqs.NewFromConfig(cfg)
	url := os.Getenv(barePollEnv)
	for {
		_, err := c.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
			WaitTimeSeconds: 20, VisibilityTimeout: 60})
		if err != nil {
			return err
		}
	}
}

// sample is a process tree's resources at one moment.
type sample struct {
	at       time.Time
	rss      int64 // whole tree
	use      usage // the main process, all threads
	fds      int
	children int
	tree     int
}

func sampleOf(pid int) (sample, error) {
	s := sample{at: time.Now()}
	t := tree(pid)
	s.tree = len(t)
	s.children = len(children(pid))
	for _, p := range t {
		r, err := rss(p)
		if err == nil {
			s.rss += r
		}
	}
	var err error
	if s.use, err = procUsage(pid); err != nil {
		return s, err
	}
	s.fds, err = fds(pid)
	return s, err
}

// idleAgent is row 6: an agent long-polling an empty queue, beside the
// bare SDK long-poll loop measured at the same time.
func idleAgent(ctx context.Context, e *env) ([]Row, error) {
	d, err := deploy(ctx)
	if err != nil {
		return nil, err
	}
	a, err := e.startAgent(ctx, d)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bare := exec.Command(self)
	bare.Env = append(awstest.AgentEnv(d.endpoint, d.cfg), barePollEnv+"="+d.cfg.Queues[fleetcron.DefaultPool])
	var bareLog bytes.Buffer
	bare.Stdout, bare.Stderr = &bareLog, &bareLog
	bare.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := bare.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = bare.Process.Kill(); _ = bare.Wait() }()

	span := e.dur(10*time.Second, 2*time.Minute)
	e.logf("row 6: idle agent and bare SDK poller for %s", span)
	time.Sleep(3 * time.Second) // start-up done, first polls out
	a0, err := sampleOf(a.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	b0, err := sampleOf(bare.Process.Pid)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(span):
	}
	a1, err := sampleOf(a.cmd.Process.Pid)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, tail(a.log.Bytes(), 2000))
	}
	b1, err := sampleOf(bare.Process.Pid)
	if err != nil {
		return nil, fmt.Errorf("bare poller: %w\n%s", err, tail(bareLog.Bytes(), 2000))
	}
	perMin := func(x0, x1 sample) float64 {
		return float64(x1.use.switches-x0.use.switches) / x1.at.Sub(x0.at).Minutes()
	}
	cpu := func(x0, x1 sample) float64 {
		return float64(x1.use.cpuTicks-x0.use.cpuTicks) / clockTicks / x1.at.Sub(x0.at).Seconds() * 100
	}
	aSw, bSw := perMin(a0, a1), perMin(b0, b1)
	return []Row{
		{N: 6, Measure: fmt.Sprintf("idle agent, RSS of its process tree (%d processes), long-polling moto for %s", a1.tree, span),
			Figure: kb(float64(a1.rss)), Baseline: "bare SDK long-poll loop " + kb(float64(b1.rss)),
			Ratio: ratio(float64(a1.rss), float64(b1.rss)), Ambition: "≤ 15 MB", Met: met(a1.rss <= 15<<20)},
		{N: 6, Measure: "idle agent, context switches and CPU",
			Figure:   fmt.Sprintf("%.1f switches/min, CPU %.3f%%", aSw, cpu(a0, a1)),
			Baseline: fmt.Sprintf("bare loop %.1f switches/min, CPU %.3f%%", bSw, cpu(b0, b1)),
			Ratio:    ratio(aSw, bSw), Ambition: "≤ 10 switches/min", Met: met(aSw <= 10)},
	}, nil
}

// busyAgent is row 7: the agent's own memory and descriptors per running
// job, with n `sleep` jobs that wrote output running at once.
func busyAgent(ctx context.Context, e *env) ([]Row, error) {
	var rows []Row
	for _, n := range []int{e.size(20, 100), e.size(100, 1000)} {
		e.logf("row 7: agent with %d running jobs", n)
		r, err := e.busyAgentWith(ctx, n)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

func (e *env) busyAgentWith(ctx context.Context, n int) ([]Row, error) {
	d, err := deploy(ctx)
	if err != nil {
		return nil, err
	}
	j, err := d.app.Jobs.Create(ctx, jobs.Caller{ID: "bench", Admin: true}, jobs.Input{
		Executable: ptr(`echo "started $FLEETCRON_RUN_ID"; exec sleep 300`), Schedule: ptr("* * * * *"),
		TimeoutSec: ptr(600), Overlap: ptr(fleetcron.OverlapAllow)})
	if err != nil {
		return nil, err
	}
	a, err := e.startAgent(ctx, d, "--slots", fmt.Sprint(n))
	if err != nil {
		return nil, err
	}
	defer func() {
		a.stop()
		for _, p := range tree(a.cmd.Process.Pid)[1:] { // nothing may outlive a drained agent
			_ = syscall.Kill(-p, syscall.SIGKILL)
		}
	}()
	pid := a.cmd.Process.Pid
	time.Sleep(3 * time.Second)
	idle, err := sampleOf(pid)
	if err != nil {
		return nil, err
	}
	idleRSS, _ := rss(pid)

	// n runs of the job, for n past minutes, fired as Scheduler would.
	base := time.Now().Truncate(time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			at := base.Add(-time.Duration(i+1) * time.Minute)
			if err := d.app.HandleFire(ctx, fcevents.Fire{JobID: j.ID, ScheduledTime: at.UTC().Format(time.RFC3339)}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Duration(n)*200*time.Millisecond + time.Minute)
	for len(children(pid)) < n {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("%d of %d jobs running after the deadline\n%s", len(children(pid)), n, tail(a.log.Bytes(), 2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // output written, heartbeats started
	busy, err := sampleOf(pid)
	if err != nil {
		return nil, err
	}
	busyRSS, _ := rss(pid)
	memPer := float64(busyRSS-idleRSS) / float64(n)
	fdPer := float64(busy.fds-idle.fds) / float64(n)
	helpers := busy.tree - 1 - n
	return []Row{
		{N: 7, Measure: fmt.Sprintf("agent cost per running job, %d concurrent sleep jobs with output", n),
			Figure:   fmt.Sprintf("%s and %.2f fds per job, 2 s after the last started; %d processes besides the jobs' own", kb(memPer), fdPer, helpers),
			Baseline: fmt.Sprintf("idle agent RSS %s, %d fds", kb(float64(idleRSS)), idle.fds),
			Ratio:    ratio(float64(busyRSS), float64(idleRSS)) + " RSS",
			Ambition: "≤ 64 KB, ≤ 3 fds, no helper process", Met: met(memPer <= 64*1024 && fdPer <= 3 && helpers == 0)},
	}, nil
}
