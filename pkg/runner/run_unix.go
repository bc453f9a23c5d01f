//go:build unix

package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// errTimedOut is the cause of a run context ended by Spec.Timeout.
var errTimedOut = errors.New("run timed out")

// Run runs spec and waits until its process, and every process it left in
// its process group, is gone. The error is non-nil only when the process
// could not be started (see ErrInvalidSpec, ErrUnknownUser, ErrSwitchUser;
// exec failures are wrapped as they come), or, exceptionally, not waited
// for; how the process ended, a non-zero exit included, is in Result.
func Run(ctx context.Context, spec Spec) (Result, error) {
	res := Result{ExitCode: -1}
	name, args, err := argv(spec)
	if err != nil {
		return res, err
	}
	u, cred, err := runAs(spec.User, os.Geteuid())
	if err != nil {
		return res, err
	}
	env, err := environ(spec.Env, u)
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
	out := &output{tail: newTail(limit), also: spec.Output}

	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if spec.Timeout > 0 {
		runCtx, cancel = context.WithTimeoutCause(ctx, spec.Timeout, errTimedOut)
	}
	defer cancel()

	g := &group{grace: grace}
	res.StartedAt = time.Now()
	cmd, err := start(runCtx, func() *exec.Cmd {
		cmd := exec.CommandContext(runCtx, name, args...)
		cmd.Env = env
		cmd.Dir = workDir(spec.Dir, u)
		cmd.Stdout, cmd.Stderr = out, out // the same writer: one pipe, one copier
		cmd.SysProcAttr = sysProcAttr(cred)
		// On timeout or cancel: SIGTERM to the group. WaitDelay later
		// SIGKILLs the leader if it is still there (the group follows
		// in g.leaderExited) and abandons pipes held by escaped processes.
		cmd.Cancel = func() error { return g.cancel(cmd.Process.Pid) }
		cmd.WaitDelay = grace
		return cmd
	})
	if err != nil {
		res.EndedAt = time.Now()
		res.TimedOut, res.Canceled = endedBy(runCtx)
		return res, fmt.Errorf("start %s job %s: %w", spec.Type, name, err)
	}
	pid := cmd.Process.Pid
	g.started(pid)
	if waitExited(pid) {
		// The leader is a zombie: its pid, the group id, cannot be
		// reused while we signal the group.
		g.leaderExited()
	}
	waitErr := cmd.Wait()
	g.leaderExited()
	g.drain()
	res.EndedAt = time.Now()

	res.Output, res.OutputBytes = out.tail.Bytes(), out.tail.Total()
	res.Truncated = res.OutputBytes > int64(len(res.Output))
	res.OutputErr = out.err
	if g.wasCanceled() {
		res.TimedOut, res.Canceled = endedBy(runCtx)
	}
	if cmd.ProcessState == nil {
		// Not reaped by us (SIGCHLD ignored by this process?): how it
		// ended is unknown.
		return res, fmt.Errorf("wait %s job %s: %w", spec.Type, name, waitErr)
	}
	switch st, _ := cmd.ProcessState.Sys().(syscall.WaitStatus); {
	case st.Signaled():
		res.Signal = st.Signal().String()
	case st.Exited():
		res.ExitCode = st.ExitStatus()
	}
	return res, nil
}

// start starts the command newCmd builds, building a new one to retry when
// exec fails with ETXTBSY: a file just written (a fetched script or binary)
// can be briefly held open for writing by a process another goroutine of
// this program forked at that moment (go.dev/issue/22315).
func start(ctx context.Context, newCmd func() *exec.Cmd) (*exec.Cmd, error) {
	for backoff := 5 * time.Millisecond; ; backoff *= 2 {
		cmd := newCmd()
		err := cmd.Start()
		if err == nil || !errors.Is(err, syscall.ETXTBSY) || backoff > 200*time.Millisecond {
			return cmd, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
		}
	}
}

// endedBy reports whether ctx ended by its timeout or otherwise.
func endedBy(ctx context.Context) (timedOut, canceled bool) {
	switch cause := context.Cause(ctx); {
	case cause == nil:
		return false, false
	case errors.Is(cause, errTimedOut):
		return true, false
	default:
		return false, true
	}
}

// group tears down a run's process group: SIGTERM, then SIGKILL once the
// grace has passed since the SIGTERM.
type group struct {
	grace time.Duration

	mu       sync.Mutex
	pgid     int
	exited   bool      // the leader has exited
	canceled bool      // the run's context ended while the leader ran
	termAt   time.Time // when the group got SIGTERM
	killed   bool      // the group got SIGKILL
}

func (g *group) started(pid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pgid = pid
}

// cancel is the command's Cancel: the run's context ended.
func (g *group) cancel(pid int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.exited {
		return os.ErrProcessDone // ended on its own before the context did
	}
	g.pgid = pid // Cancel may run before Run's call to started
	g.canceled = true
	g.termLocked()
	return nil
}

func (g *group) wasCanceled() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.canceled
}

func (g *group) termLocked() {
	if g.termAt.IsZero() {
		_ = syscall.Kill(-g.pgid, syscall.SIGTERM)
		g.termAt = time.Now()
	}
}

// leaderExited starts tearing down what the leader left behind: SIGTERM
// (the first, or SIGKILL when the grace after an earlier SIGTERM is over).
// It is idempotent.
func (g *group) leaderExited() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.exited {
		return
	}
	g.exited = true
	if g.termAt.IsZero() {
		g.termLocked()
		return
	}
	if time.Since(g.termAt) >= g.grace {
		_ = syscall.Kill(-g.pgid, syscall.SIGKILL)
		g.killed = true
	}
}

// drain waits, once the leader is reaped, until the group is empty or the
// grace after its SIGTERM is over, and then SIGKILLs what is left.
func (g *group) drain() {
	g.mu.Lock()
	pgid, deadline, killed := g.pgid, g.termAt.Add(g.grace), g.killed
	g.mu.Unlock()
	if killed {
		return
	}
	for poll := time.Millisecond; ; poll = min(2*poll, 50*time.Millisecond) {
		// ESRCH: nothing left (EPERM: nothing we may signal); or
		// nothing but zombies waiting for their new parent to reap them.
		if syscall.Kill(-pgid, 0) != nil || !groupLive(pgid) {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return
		}
		time.Sleep(min(poll, left))
	}
}

// runAs resolves the run-as user name (or uid) given the effective uid of
// this process. It returns the user (nil if the agent's own uid has no
// passwd entry) and the credential to switch to (nil: no switch).
func runAs(name string, euid int) (*user.User, *syscall.Credential, error) {
	self := strconv.Itoa(euid)
	if name == "" {
		u, err := user.LookupId(self)
		if err != nil {
			return nil, nil, nil // run as is, without user variables
		}
		return u, nil, nil
	}
	u, err := lookupUser(name)
	if err != nil {
		return nil, nil, err
	}
	if u.Uid == self {
		return u, nil, nil
	}
	if euid != 0 {
		return nil, nil, fmt.Errorf("run as %q (uid %s): the agent runs as uid %d: %w", name, u.Uid, euid, ErrSwitchUser)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("run as %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("run as %q: gid %q: %w", name, u.Gid, err)
	}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, nil, fmt.Errorf("run as %q: supplementary groups: %w", name, err)
	}
	groups := make([]uint32, 0, len(gids))
	for _, s := range gids {
		g, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, nil, fmt.Errorf("run as %q: group id %q: %w", name, s, err)
		}
		groups = append(groups, uint32(g))
	}
	// Groups is set even when empty: the job must not keep root's groups.
	return u, &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: groups}, nil
}

// lookupUser finds a user by name, then, like chown, by numeric uid.
func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	var unknownName user.UnknownUserError
	if errors.As(err, &unknownName) {
		if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	var unknownID user.UnknownUserIdError
	switch {
	case err == nil:
		return u, nil
	case errors.As(err, &unknownName), errors.As(err, &unknownID):
		return nil, fmt.Errorf("run as %q: %w", name, ErrUnknownUser)
	default:
		return nil, fmt.Errorf("run as %q: look up user: %w", name, err)
	}
}
