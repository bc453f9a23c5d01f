package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// Type says what Spec runs.
type Type string

// Types.
const (
	TypeCommand Type = "command" // /bin/sh -c Command
	TypeScript  Type = "script"  // Path: exec'd if it starts with #!, else /bin/sh Path
	TypeBinary  Type = "binary"  // Path exec'd
)

// Defaults.
const (
	DefaultOutputLimit = 64 << 10
	DefaultKillGrace   = 5 * time.Second
	// BasePath is the PATH jobs get.
	BasePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// ErrSwitchUser: the process may not run a job as the user it asks for.
var ErrSwitchUser = errors.New("cannot switch user")

// Spec is one process to run.
type Spec struct {
	Type        Type
	Command     string
	Path        string
	Args        []string
	Env         map[string]string
	Dir         string
	Timeout     time.Duration
	User        string
	OutputLimit int
	Output      io.Writer
	KillGrace   time.Duration
}

// Result is how a process ended.
type Result struct {
	ExitCode    int
	Signal      string
	TimedOut    bool
	Canceled    bool
	Output      []byte
	OutputBytes int64
	Truncated   bool
	StartedAt   time.Time
	EndedAt     time.Time
}

var errTimeout = errors.New("timeout")

// Run runs spec and waits for it. The error is non-nil only when the process
// could not be started; a non-zero exit is reported in Result.
func Run(ctx context.Context, spec Spec) (Result, error) {
	res := Result{ExitCode: -1}
	name, args, err := argv(spec)
	if err != nil {
		return res, err
	}
	cred, u, err := credential(spec.User, os.Getuid())
	if err != nil {
		return res, err
	}
	limit := spec.OutputLimit
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	grace := spec.KillGrace
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	out := newTail(limit)
	var w io.Writer = out
	if spec.Output != nil {
		w = io.MultiWriter(out, spec.Output)
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if spec.Timeout > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(runCtx, spec.Timeout, errTimeout)
		defer stop()
	}
	cmd := exec.CommandContext(runCtx, name, args...)
	cmd.Env = environ(spec.Env, u)
	cmd.Dir = spec.Dir
	if cmd.Dir == "" {
		cmd.Dir = os.TempDir()
		if u != nil && u.HomeDir != "" {
			if fi, err := os.Stat(u.HomeDir); err == nil && fi.IsDir() {
				cmd.Dir = u.HomeDir
			}
		}
	}
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = w, w // one writer: os/exec uses one pipe
	// Own process group (killed whole on timeout and cancel); the leader
	// dies with the agent even if the agent is killed -9 (the systemd unit's
	// control group takes the rest).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGKILL}
	var killTimer *time.Timer
	defer func() {
		if killTimer != nil {
			killTimer.Stop() // the group is gone: never signal a reused pgid
		}
	}()
	cmd.Cancel = func() error {
		// SIGTERM to the whole group, SIGKILL after the grace period.
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		killTimer = time.AfterFunc(grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		return nil
	}
	// After the main process ends (or is killed), stop waiting for its
	// output pipe held by stragglers after this long.
	cmd.WaitDelay = grace + time.Second

	res.StartedAt = time.Now()
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start %s: %w", name, err)
	}
	pgid := cmd.Process.Pid
	waitErr := cmd.Wait()
	// Whatever the job left running in its group dies with the run.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	res.EndedAt = time.Now()

	res.Output, res.OutputBytes = out.Bytes(), out.Total()
	res.Truncated = res.OutputBytes > int64(limit)
	switch cause := context.Cause(runCtx); {
	case errors.Is(cause, errTimeout):
		res.TimedOut = true
	case cause != nil:
		res.Canceled = true
	}
	if cmd.ProcessState == nil {
		return res, fmt.Errorf("wait %s: %w", name, waitErr)
	}
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		switch {
		case st.Signaled():
			res.ExitCode, res.Signal = -1, st.Signal().String()
		case st.Exited():
			res.ExitCode = st.ExitStatus()
		}
	}
	return res, nil
}

func argv(spec Spec) (string, []string, error) {
	switch spec.Type {
	case TypeCommand:
		if spec.Command == "" {
			return "", nil, errors.New("runner: empty command")
		}
		return "/bin/sh", []string{"-c", spec.Command}, nil
	case TypeScript:
		if spec.Path == "" {
			return "", nil, errors.New("runner: script without a path")
		}
		shebang, err := hasShebang(spec.Path)
		if err != nil {
			return "", nil, err
		}
		if shebang {
			return spec.Path, spec.Args, nil
		}
		return "/bin/sh", append([]string{spec.Path}, spec.Args...), nil
	case TypeBinary:
		if spec.Path == "" {
			return "", nil, errors.New("runner: binary without a path")
		}
		return spec.Path, spec.Args, nil
	}
	return "", nil, fmt.Errorf("runner: unknown type %q", spec.Type)
}

func hasShebang(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("runner: open script: %w", err)
	}
	defer f.Close()
	b := make([]byte, 2)
	n, _ := io.ReadFull(bufio.NewReader(f), b)
	return n == 2 && string(b) == "#!", nil
}

// credential resolves the run-as user. uid is the current process's uid.
// It returns a nil credential to run as the current user.
func credential(name string, uid int) (*syscall.Credential, *user.User, error) {
	if name == "" {
		u, err := user.LookupId(strconv.Itoa(uid))
		if err != nil {
			return nil, nil, nil // no passwd entry: run as is, without user vars
		}
		return nil, u, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("runner: run as %q: %w", name, err)
	}
	if u.Uid == strconv.Itoa(uid) {
		return nil, u, nil
	}
	if uid != 0 {
		return nil, nil, fmt.Errorf("runner: run as %q: the agent must run as root to run jobs as another user: %w", name, ErrSwitchUser)
	}
	id, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, nil, fmt.Errorf("runner: run as %q: non-numeric uid/gid: %w", name, ErrSwitchUser)
	}
	var groups []uint32
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				groups = append(groups, uint32(n))
			}
		}
	}
	return &syscall.Credential{Uid: uint32(id), Gid: uint32(gid), Groups: groups}, u, nil
}

// environ builds a job's environment: a minimal base, the user's identity,
// then the job's own variables. Nothing is inherited from the agent.
func environ(extra map[string]string, u *user.User) []string {
	env := map[string]string{"PATH": BasePath, "SHELL": "/bin/sh", "LANG": "C.UTF-8"}
	if u != nil {
		env["USER"], env["LOGNAME"] = u.Username, u.Username
		if u.HomeDir != "" {
			env["HOME"] = u.HomeDir
		}
	}
	for k, v := range extra {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
