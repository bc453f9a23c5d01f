// Command fleetcron is fleetcron's CLI and its local mode: `fleetcron dev`
// runs the whole system in one process; the other commands call the HTTP API
// at FLEETCRON_URL with FLEETCRON_TOKEN.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/fleetcron/fleetcron/pkg/client"
	"github.com/fleetcron/fleetcron/pkg/devserver"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

const usage = `fleetcron — cron for a fleet: each job runs once per scheduled instant.

Usage:
  fleetcron dev [--addr 127.0.0.1:8080] [--data .fleetcron] [--agents 2] [--pools default]
  fleetcron jobs create --schedule EXPR (--command CMD | --script FILE | --binary FILE) [options]
  fleetcron jobs list | get ID | delete ID | run ID | pause ID | resume ID
  fleetcron runs list JOB_ID | get RUN_ID
  fleetcron tokens create --subject NAME [--role user|admin] [--name TEXT] | list | delete ID

API commands read FLEETCRON_URL (default http://127.0.0.1:8080) and FLEETCRON_TOKEN,
or --url and --token; --output json prints the API's JSON instead of a table.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fleetcron:", oneLine(err))
		os.Exit(1)
	}
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

var errUsage = errors.New("see 'fleetcron help'")

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "dev":
		return dev(args[1:], stdout, stderr)
	case "jobs", "runs", "tokens":
		if len(args) < 2 {
			return fmt.Errorf("%s: missing subcommand: %w", args[0], errUsage)
		}
		return apiCommand(args[0], args[1], args[2:], stdout)
	}
	return fmt.Errorf("unknown command %q: %w", args[0], errUsage)
}

func dev(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", devserver.DefaultAddr, "API listen address (loopback)")
	data := fs.String("data", devserver.DefaultDataDir, "data directory (database, blobs)")
	agents := fs.Int("agents", devserver.DefaultAgents, "in-process workers")
	slots := fs.Int("slots", 4, "concurrent runs per worker")
	pools := fs.String("pools", fleetcron.DefaultPool, "comma-separated pools the workers poll")
	runUser := fs.String("run-user", "", "user jobs run as (default: nobody when root, else you)")
	drain := fs.Duration("drain", 30*time.Second, "how long running jobs may finish at shutdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return devserver.Run(ctx, devserver.Config{
		Addr: *addr, DataDir: *data, Agents: *agents, Slots: *slots, Pools: strings.Split(*pools, ","),
		AdminToken: os.Getenv("FLEETCRON_TOKEN"), RunUser: *runUser, DrainTimeout: *drain, Logger: log,
		Ready: func(url, token string) {
			fmt.Fprintf(stdout, "fleetcron dev: API at %s\n", url)
			if token != "" {
				fmt.Fprintf(stdout, "admin token (shown once; set FLEETCRON_TOKEN to choose your own):\n  export FLEETCRON_URL=%s FLEETCRON_TOKEN=%s\n", url, token)
			}
		},
	})
}

// multi is a repeatable flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func apiCommand(group, sub string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet(group+" "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", envOr("FLEETCRON_URL", "http://127.0.0.1:8080"), "API URL")
	token := fs.String("token", os.Getenv("FLEETCRON_TOKEN"), "API token")
	output := fs.String("output", "table", "table or json")
	limit := fs.Int("limit", 0, "page size of lists")
	cursor := fs.String("cursor", "", "page cursor of lists")
	// jobs create
	schedule := fs.String("schedule", "", "crontab expression, @daily, @every 15m, …")
	command := fs.String("command", "", "shell command")
	script := fs.String("script", "", "script file to upload")
	binary := fs.String("binary", "", "binary file to upload")
	name := fs.String("name", "", "job or token name")
	tz := fs.String("timezone", "", "IANA time zone")
	timeout := fs.Duration("timeout", 0, "job timeout")
	attempts := fs.Int("max-attempts", 0, "attempts before a run is lost")
	overlap := fs.String("overlap", "", "allow, forbid or replace")
	pool := fs.String("pool", "", "target pool")
	runAs := fs.String("run-as", "", "user to run as (admins)")
	paused := fs.Bool("paused", false, "create paused")
	var env, jobArgs multi
	fs.Var(&env, "env", "KEY=VALUE (repeatable)")
	fs.Var(&jobArgs, "arg", "argument to the script or binary (repeatable)")
	// tokens create
	subject := fs.String("subject", "", "token subject (owner of its jobs)")
	role := fs.String("role", "user", "token role: user or admin")
	// Flags may come before or after the id: parse, take a positional, go on.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%s %s: %w", group, sub, err)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("--output %q: want table or json", *output)
	}
	if *token == "" {
		return errors.New("no API token: set FLEETCRON_TOKEN or pass --token")
	}
	c := client.New(*url, *token)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	arg := func() (string, error) {
		if len(positional) != 1 {
			return "", fmt.Errorf("%s %s: want exactly one id: %w", group, sub, errUsage)
		}
		return positional[0], nil
	}
	p := printer{w: stdout, json: *output == "json"}

	switch group + " " + sub {
	case "jobs create":
		body := map[string]any{"schedule": *schedule}
		switch {
		case *command != "":
			body["type"], body["executable"] = "command", *command
		case *script != "" || *binary != "":
			path, typ := *script, "script"
			if *binary != "" {
				path, typ = *binary, "binary"
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("jobs create: %w", err)
			}
			body["type"], body["executable"] = typ, baseName(path)
			body["content"] = base64.StdEncoding.EncodeToString(data)
		default:
			return fmt.Errorf("jobs create: one of --command, --script or --binary: %w", errUsage)
		}
		setIf(body, "name", *name)
		setIf(body, "timezone", *tz)
		setIf(body, "overlap", *overlap)
		setIf(body, "pool", *pool)
		setIf(body, "run_as", *runAs)
		if *timeout > 0 {
			body["timeout_seconds"] = int(timeout.Seconds())
		}
		if *attempts > 0 {
			body["max_attempts"] = *attempts
		}
		if *paused {
			body["paused"] = true
		}
		if len(jobArgs) > 0 {
			body["args"] = []string(jobArgs)
		}
		if len(env) > 0 {
			m := map[string]string{}
			for _, kv := range env {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--env %q: want KEY=VALUE", kv)
				}
				m[k] = v
			}
			body["env"] = m
		}
		j, err := c.CreateJob(ctx, body)
		if err != nil {
			return err
		}
		return p.jobs([]fleetcron.Job{*j}, j)
	case "jobs list":
		js, next, err := c.ListJobs(ctx, *cursor, *limit)
		if err != nil {
			return err
		}
		if err := p.jobs(js, js); err != nil {
			return err
		}
		p.next(next)
		return nil
	case "jobs get":
		id, err := arg()
		if err != nil {
			return err
		}
		j, err := c.GetJob(ctx, id)
		if err != nil {
			return err
		}
		return p.jobs([]fleetcron.Job{*j}, j)
	case "jobs delete", "jobs pause", "jobs resume":
		id, err := arg()
		if err != nil {
			return err
		}
		var j fleetcron.Job
		if err := c.JobAction(ctx, id, sub, &j); err != nil {
			return err
		}
		return p.jobs([]fleetcron.Job{j}, j)
	case "jobs run":
		id, err := arg()
		if err != nil {
			return err
		}
		var r fleetcron.Run
		if err := c.JobAction(ctx, id, "run", &r); err != nil {
			return err
		}
		return p.runs([]fleetcron.Run{r}, r)
	case "runs list":
		id, err := arg()
		if err != nil {
			return err
		}
		rs, next, err := c.ListRuns(ctx, id, *cursor, *limit)
		if err != nil {
			return err
		}
		if err := p.runs(rs, rs); err != nil {
			return err
		}
		p.next(next)
		return nil
	case "runs get":
		id, err := arg()
		if err != nil {
			return err
		}
		r, err := c.GetRun(ctx, id)
		if err != nil {
			return err
		}
		if p.json {
			return p.raw(r)
		}
		if err := p.runs([]fleetcron.Run{*r}, r); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\n--- output (%d bytes) ---\n%s", r.OutputBytes, r.Output)
		return nil
	case "tokens create":
		var t map[string]any
		if _, err := c.Do(ctx, "POST", "/tokens", map[string]any{"subject": *subject, "role": *role, "name": *name}, &t); err != nil {
			return err
		}
		if p.json {
			return p.raw(t)
		}
		fmt.Fprintf(stdout, "token %v for %v (%v), shown once:\n%v\n", t["id"], t["subject"], t["role"], t["token"])
		return nil
	case "tokens list":
		var ts []map[string]any
		if _, err := c.Do(ctx, "GET", "/tokens", nil, &ts); err != nil {
			return err
		}
		if p.json {
			return p.raw(ts)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tSUBJECT\tNAME\tCREATED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\n", t["id"], t["role"], t["subject"], str(t["name"]), t["created_at"])
		}
		return tw.Flush()
	case "tokens delete":
		id, err := arg()
		if err != nil {
			return err
		}
		if _, err := c.Do(ctx, "DELETE", "/tokens/"+id, nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s revoked\n", id)
		return nil
	}
	return fmt.Errorf("unknown command %q: %w", group+" "+sub, errUsage)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func setIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

type printer struct {
	w    io.Writer
	json bool
}

func (p printer) raw(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (p printer) next(cursor string) {
	if cursor != "" && !p.json {
		fmt.Fprintf(p.w, "(more: --cursor %s)\n", cursor)
	}
}

func (p printer) jobs(js []fleetcron.Job, rawv any) error {
	if p.json {
		return p.raw(rawv)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tSCHEDULE\tTYPE\tEXECUTABLE\tLAST RUN\tPAUSED")
	for _, j := range js {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", j.ID, j.Status, j.Schedule, j.Type, trunc(j.Executable, 40), j.LastRunState, j.Paused)
	}
	return tw.Flush()
}

func (p printer) runs(rs []fleetcron.Run, rawv any) error {
	if p.json {
		return p.raw(rawv)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSCHEDULED\tATTEMPT\tEXIT\tREASON")
	for _, r := range rs {
		exit := ""
		if r.ExitCode != nil {
			exit = fmt.Sprint(*r.ExitCode)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.State, r.ScheduledAt.Format(time.RFC3339), r.Attempt, exit, trunc(r.Reason, 60))
	}
	return tw.Flush()
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
