// Command fleetcron-agent is the daemon on every EC2 instance of a fleet: it
// long-polls its pools' SQS queues with as many receives as it has free
// slots, claims each run (a fenced lease in DynamoDB), fetches scripts and
// binaries from S3 into a verified content-addressed cache, runs them as an
// unprivileged user (root only when an admin asked), heartbeats, writes the
// result back and deletes the message. On SIGTERM, an autoscaling
// termination (lifecycle state from IMDSv2) or a Spot interruption notice it
// drains: it stops polling, lets runs finish within --drain, hands back the
// rest, and only then completes the termination lifecycle action.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/fleetcron/fleetcron/pkg/awsapp"
	"github.com/fleetcron/fleetcron/pkg/awsclient"
	"github.com/fleetcron/fleetcron/pkg/blobcache"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/worker"
)

// Version is set at build time (-ldflags "-X main.Version=…").
var Version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fleetcron-agent:", err)
		os.Exit(1)
	}
}

type config struct {
	id, pools, user, cacheDir, hook, asg string
	slots                                int
	lease, drain, report, watch          time.Duration
	cacheMax                             int64
	allowRoot, useIMDS                   bool
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(args []string, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("fleetcron-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.id, "id", os.Getenv("FLEETCRON_AGENT_ID"), "agent id (default: the instance id, else the host name)")
	fs.StringVar(&c.pools, "pools", envOr("FLEETCRON_POOLS", fleetcron.DefaultPool), "comma-separated pools to poll")
	fs.IntVar(&c.slots, "slots", worker.DefaultSlots, "runs at a time")
	fs.DurationVar(&c.lease, "lease", worker.DefaultLease, "lease and visibility timeout (heartbeat every third)")
	fs.DurationVar(&c.drain, "drain", 2*time.Minute, "how long running jobs may finish when the agent stops")
	fs.StringVar(&c.user, "user", envOr("FLEETCRON_RUN_USER", "fleetcron"), "unprivileged user jobs run as (\"\" = the agent's own user)")
	fs.BoolVar(&c.allowRoot, "allow-root", true, "run jobs whose admin-set run_as is root as root")
	fs.StringVar(&c.cacheDir, "cache-dir", envOr("FLEETCRON_CACHE_DIR", "/var/cache/fleetcron"), "verified executable cache")
	fs.Int64Var(&c.cacheMax, "cache-max-bytes", blobcache.DefaultMaxBytes, "cache size bound")
	fs.DurationVar(&c.report, "report", worker.DefaultReportEvery, "heartbeat record interval (GET /agents)")
	fs.BoolVar(&c.useIMDS, "imds", true, "read the instance id, termination and Spot notices from IMDSv2")
	fs.DurationVar(&c.watch, "watch", 5*time.Second, "IMDS poll interval for termination and Spot notices")
	fs.StringVar(&c.hook, "lifecycle-hook", os.Getenv("FLEETCRON_LIFECYCLE_HOOK"), "termination lifecycle hook to complete after draining")
	fs.StringVar(&c.asg, "asg", os.Getenv("FLEETCRON_ASG"), "autoscaling group of the lifecycle hook")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("version", Version)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	app, err := awsapp.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cfg, err := awsclient.Load(ctx)
	if err != nil {
		return err
	}
	a, err := awsapp.New(ctx, cfg, app, log)
	if err != nil {
		return err
	}
	var md *imds.Client
	instanceID := ""
	if c.useIMDS {
		md = imds.NewFromConfig(cfg)
		if doc, err := md.GetInstanceIdentityDocument(ctx, &imds.GetInstanceIdentityDocumentInput{}); err == nil {
			instanceID = doc.InstanceID
		} else {
			log.Warn("no instance identity from IMDS; termination and Spot notices are off", "err", err)
			md = nil
		}
	}
	if c.id == "" {
		c.id = instanceID
	}
	if c.id == "" {
		c.id, _ = os.Hostname()
	}
	cache, err := blobcache.New(c.cacheDir, a.Blobs, c.cacheMax)
	if err != nil {
		return err
	}
	w := worker.New(worker.Config{ID: c.id, Pools: strings.Split(c.pools, ","), Slots: c.slots, Lease: c.lease,
		DrainTimeout: c.drain, User: c.user, AllowRoot: c.allowRoot}, a.Queue, a.Store, a.Jobs, cache,
		worker.WithLogger(log), worker.WithOutputStore(a.Blobs))

	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	if md != nil {
		go watchIMDS(pollCtx, md, c.watch, log, stopPolling)
	}
	reportCtx, stopReport := context.WithCancel(context.Background())
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		w.Report(reportCtx, a.Store, c.report, fleetcron.Agent{InstanceID: instanceID, Version: Version})
	}()
	log.Info("agent started", "agent", c.id, "pools", c.pools, "slots", c.slots, "user", c.user)
	err = w.Run(pollCtx) // returns after draining
	stopReport()
	<-reported
	if c.hook != "" && c.asg != "" && instanceID != "" {
		completeLifecycle(cfg, c, instanceID, log)
	}
	log.Info("agent stopped")
	return err
}

// watchIMDS stops polling when the instance is scheduled for termination by
// its autoscaling group or a Spot interruption notice arrives.
func watchIMDS(ctx context.Context, md *imds.Client, every time.Duration, log *slog.Logger, drain func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if v, err := metadata(ctx, md, "autoscaling/target-lifecycle-state"); err == nil && v == "Terminated" {
			log.Warn("autoscaling termination: draining")
			drain()
			return
		}
		if v, err := metadata(ctx, md, "spot/instance-action"); err == nil && v != "" {
			log.Warn("Spot interruption notice: draining", "notice", v)
			drain()
			return
		}
	}
}

func metadata(ctx context.Context, md *imds.Client, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := md.GetMetadata(ctx, &imds.GetMetadataInput{Path: path})
	if err != nil {
		return "", err
	}
	defer out.Content.Close()
	b, err := io.ReadAll(out.Content)
	return strings.TrimSpace(string(b)), err
}

// completeLifecycle lets the autoscaling group terminate the instance once
// the agent has drained.
func completeLifecycle(cfg aws.Config, c config, instanceID string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := autoscaling.NewFromConfig(cfg).CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName: aws.String(c.asg), LifecycleHookName: aws.String(c.hook),
		InstanceId: aws.String(instanceID), LifecycleActionResult: aws.String("CONTINUE")})
	var notPending interface{ ErrorCode() string }
	if errors.As(err, &notPending) && strings.Contains(err.Error(), "No active Lifecycle Action") {
		return // not terminating: a plain restart
	}
	if err != nil {
		log.Error("could not complete the termination lifecycle action; the hook's timeout will", "err", err)
		return
	}
	log.Info("termination lifecycle action completed", "asg", c.asg, "hook", c.hook)
}
