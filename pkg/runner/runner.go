package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Type says what a Spec runs.
type Type string

// The types of job a Spec can run.
const (
	// TypeCommand runs Spec.Command as "/bin/sh -c Command"; Spec.Args, if
	// any, become its positional parameters $1, $2, ...
	TypeCommand Type = "command"
	// TypeScript runs the file at Spec.Path: executed directly when it
	// starts with "#!" (it must then be executable), else as
	// "/bin/sh Path Args...".
	TypeScript Type = "script"
	// TypeBinary executes the file at Spec.Path directly.
	TypeBinary Type = "binary"
)

// Defaults and fixed parts of a job's environment.
const (
	// DefaultOutputLimit is the output tail kept when Spec.OutputLimit is 0.
	DefaultOutputLimit = 64 << 10
	// DefaultKillGrace is the time between SIGTERM and SIGKILL when
	// Spec.KillGrace is 0.
	DefaultKillGrace = 5 * time.Second
	// BasePath is the PATH a job gets unless Spec.Env sets one.
	BasePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// Shell runs commands and scripts without "#!"; it is also the job's
	// SHELL, as cron does, whatever the run-as user's login shell.
	Shell = "/bin/sh"
)

// Errors Run returns, wrapped with what it was doing, when a process could
// not be started.
var (
	// ErrInvalidSpec: the Spec cannot be run as given (unknown type, no
	// command, a path that is not an absolute path to a regular file, a
	// "#!" script or a binary without execute permission, a bad variable
	// name in Env).
	ErrInvalidSpec = errors.New("invalid run spec")
	// ErrUnknownUser: Spec.User names no user of this machine.
	ErrUnknownUser = errors.New("unknown user")
	// ErrSwitchUser: Spec.User is another user than the one running the
	// agent, and the agent is not root.
	ErrSwitchUser = errors.New("the agent must run as root to run jobs as another user")
)

// Spec is one process to run.
type Spec struct {
	Type Type
	// Command is the shell command of a TypeCommand job.
	Command string
	// Path is the local, already verified file of a script or binary job;
	// it must be absolute.
	Path string
	// Args are passed to the script or binary (or to the command as $1...).
	Args []string
	// Env is added on top of the base environment: PATH=BasePath,
	// SHELL=Shell, and HOME, USER and LOGNAME of the run-as user. Nothing is
	// inherited from the calling process: the caller passes whatever the job
	// must see (FLEETCRON_* variables included).
	Env map[string]string
	// Dir is the working directory; "" means the run-as user's home if it
	// exists, else os.TempDir().
	Dir string
	// Timeout bounds the run; 0 means none.
	Timeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL of the process
	// group; 0 means DefaultKillGrace.
	KillGrace time.Duration
	// User runs the job as this user name (or numeric uid); "" runs it as
	// the user running the agent. Switching users needs root.
	User string
	// OutputLimit is how many bytes of the output's tail Result keeps; 0
	// means DefaultOutputLimit.
	OutputLimit int
	// Output, if not nil, also receives the combined output as it is
	// produced, from one goroutine at a time. A slow writer slows the job
	// down (its pipe fills); after an error it gets nothing more
	// (Result.OutputErr) and the job goes on.
	Output io.Writer
}

// Result is how a run ended.
type Result struct {
	// ExitCode is the process's exit status; -1 if it was killed by a
	// signal or never started.
	ExitCode int
	// Signal names the signal that killed the process ("killed",
	// "terminated"), if one did.
	Signal string
	// TimedOut: Spec.Timeout expired while the job was running.
	TimedOut bool
	// Canceled: the caller's context ended while the job was running (run
	// replaced, agent draining).
	Canceled bool
	// Output is the tail of the combined stdout and stderr, at most
	// OutputLimit bytes.
	Output []byte
	// OutputBytes counts all the bytes the job wrote.
	OutputBytes int64
	// Truncated: OutputBytes > len(Output); the head was dropped.
	Truncated bool
	// OutputErr is the first error Spec.Output returned, if any.
	OutputErr error
	// StartedAt and EndedAt bracket the run, from just before the process
	// started to when it and its process group were gone.
	StartedAt, EndedAt time.Time
}

// argv returns the program and arguments spec runs.
func argv(spec Spec) (string, []string, error) {
	switch spec.Type {
	case TypeCommand:
		if strings.TrimSpace(spec.Command) == "" {
			return "", nil, fmt.Errorf("command job: empty command: %w", ErrInvalidSpec)
		}
		args := []string{"-c", spec.Command}
		if len(spec.Args) > 0 {
			args = append(append(args, "sh"), spec.Args...) // $0, then $1...
		}
		return Shell, args, nil
	case TypeScript:
		fi, err := regularFile(spec)
		if err != nil {
			return "", nil, err
		}
		shebang, err := hasShebang(spec.Path)
		if err != nil {
			return "", nil, fmt.Errorf("script job: %w", err)
		}
		if !shebang {
			return Shell, append([]string{spec.Path}, spec.Args...), nil
		}
		if fi.Mode()&0o111 == 0 {
			return "", nil, fmt.Errorf("script job: %s starts with #! but is not executable (chmod +x it, or drop the #! line to run it with %s): %w",
				spec.Path, Shell, ErrInvalidSpec)
		}
		return spec.Path, spec.Args, nil
	case TypeBinary:
		fi, err := regularFile(spec)
		if err != nil {
			return "", nil, err
		}
		if fi.Mode()&0o111 == 0 {
			return "", nil, fmt.Errorf("binary job: %s is not executable: %w", spec.Path, ErrInvalidSpec)
		}
		return spec.Path, spec.Args, nil
	}
	return "", nil, fmt.Errorf("job type %q: %w", spec.Type, ErrInvalidSpec)
}

// regularFile checks the Path of a script or binary job.
func regularFile(spec Spec) (os.FileInfo, error) {
	if !filepath.IsAbs(spec.Path) {
		return nil, fmt.Errorf("%s job: path %q is not absolute: %w", spec.Type, spec.Path, ErrInvalidSpec)
	}
	fi, err := os.Stat(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("%s job: %w", spec.Type, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s job: %s is not a regular file: %w", spec.Type, spec.Path, ErrInvalidSpec)
	}
	return fi, nil
}

func hasShebang(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	b := make([]byte, 2)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return n == 2 && string(b) == "#!", nil
}

// environ builds a job's environment: the base, the run-as user's identity
// (u may be nil), then the job's own variables. Nothing comes from the
// calling process.
func environ(extra map[string]string, u *user.User) ([]string, error) {
	env := map[string]string{"PATH": BasePath, "SHELL": Shell}
	if u != nil {
		env["USER"], env["LOGNAME"] = u.Username, u.Username
		if u.HomeDir != "" {
			env["HOME"] = u.HomeDir
		}
	}
	for k, v := range extra {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("environment variable %q: bad name or value: %w", k, ErrInvalidSpec)
		}
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out, nil
}

// workDir is spec.Dir, or the user's home if it exists, or os.TempDir().
func workDir(dir string, u *user.User) string {
	if dir != "" {
		return dir
	}
	if u != nil && u.HomeDir != "" {
		if fi, err := os.Stat(u.HomeDir); err == nil && fi.IsDir() {
			return u.HomeDir
		}
	}
	return os.TempDir()
}

// output is the writer a job's stdout and stderr share: the tail, and
// Spec.Output until it fails. os/exec calls it from one goroutine at a time
// (one pipe, one copier); it never fails, so a broken Spec.Output never
// breaks the job's pipe.
type output struct {
	tail *tail
	also io.Writer
	err  error
}

// outputReadSize is the read buffer of a job's output pipe. os/exec would
// copy with a 32 KB buffer held for as long as the job runs; a page is
// plenty for a pipe, and a thousand running jobs cost a thousand of them.
const outputReadSize = 4 << 10

// ReadFrom copies the job's output pipe (os/exec's copier calls it) with a
// small buffer; see outputReadSize.
func (o *output) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, outputReadSize)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += int64(k)
			_, _ = o.Write(buf[:k])
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (o *output) Write(p []byte) (int, error) {
	_, _ = o.tail.Write(p)
	if o.also != nil && o.err == nil {
		if _, err := o.also.Write(p); err != nil {
			o.err = err
		}
	}
	return len(p), nil
}
