//go:build unix

package runner

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func run(t *testing.T, s Spec) Result {
	t.Helper()
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.StartedAt.IsZero() || res.EndedAt.Before(res.StartedAt) {
		t.Fatalf("times %v → %v", res.StartedAt, res.EndedAt)
	}
	return res
}

func TestExitCodesAndOutput(t *testing.T) {
	for _, tc := range []struct {
		command string
		code    int
		output  string
	}{
		{"true", 0, ""},
		{"echo out; exit 3", 3, "out\n"},
		{"echo err >&2", 0, "err\n"},
		{"echo one; echo two >&2; echo three", 0, "one\ntwo\nthree\n"},
	} {
		res := run(t, Spec{Type: TypeCommand, Command: tc.command})
		if res.ExitCode != tc.code || string(res.Output) != tc.output || res.OutputBytes != int64(len(tc.output)) ||
			res.Signal != "" || res.TimedOut || res.Canceled || res.Truncated {
			t.Errorf("%q: %+v", tc.command, res)
		}
	}
}

func TestKilledBySignal(t *testing.T) {
	res := run(t, Spec{Type: TypeCommand, Command: "kill -9 $$"})
	if res.ExitCode != -1 || res.Signal != "killed" || res.TimedOut || res.Canceled {
		t.Fatalf("%+v", res)
	}
}

func TestEnvironmentIsNotInherited(t *testing.T) {
	t.Setenv("AGENT_SECRET", "hunter2")
	res := run(t, Spec{Type: TypeCommand, Command: "env", Env: map[string]string{"GREETING": "hi there", "FLEETCRON_RUN_ID": "r1"}})
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(res.Output)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	if _, ok := env["AGENT_SECRET"]; ok || bytes.Contains(res.Output, []byte("hunter2")) {
		t.Fatalf("the agent's environment leaked into the job:\n%s", res.Output)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"GREETING": "hi there", "FLEETCRON_RUN_ID": "r1", "PATH": BasePath, "SHELL": Shell,
		"USER": me.Username, "LOGNAME": me.Username, "HOME": me.HomeDir}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	// env itself may add PWD, SHLVL, _ (the shell does); nothing else.
	for k := range env {
		if _, ok := want[k]; !ok && k != "PWD" && k != "SHLVL" && k != "_" {
			t.Errorf("unexpected variable %s=%q", k, env[k])
		}
	}
	if res := run(t, Spec{Type: TypeCommand, Command: `printf %s "$PATH"`, Env: map[string]string{"PATH": "/bin"}}); string(res.Output) != "/bin" {
		t.Errorf("Env does not override PATH: %q", res.Output)
	}
	for _, bad := range []string{"", "A=B", "NUL\x00"} {
		if _, err := Run(context.Background(), Spec{Type: TypeCommand, Command: "true", Env: map[string]string{bad: "x"}}); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("variable %q: %v", bad, err)
		}
	}
}

func TestWorkDir(t *testing.T) {
	dir := t.TempDir()
	if res := run(t, Spec{Type: TypeCommand, Command: "pwd", Dir: dir}); strings.TrimSpace(string(res.Output)) != dir {
		t.Errorf("pwd %q, want %q", res.Output, dir)
	}
	want := os.TempDir()
	if me, err := user.Current(); err == nil {
		if fi, err := os.Stat(me.HomeDir); err == nil && fi.IsDir() {
			want = me.HomeDir
		}
	}
	if res := run(t, Spec{Type: TypeCommand, Command: "pwd -P"}); strings.TrimSpace(string(res.Output)) != mustEval(t, want) {
		t.Errorf("default dir %q, want %q", res.Output, want)
	}
	if _, err := Run(context.Background(), Spec{Type: TypeCommand, Command: "true", Dir: filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing working directory was accepted")
	}
}

func mustEval(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// alive reports whether pid exists and is not a zombie (the test machine's
// init may be slow to reap, or never reap, orphans).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		_, noProc := os.Stat("/proc/self/stat")
		return noProc != nil // no /proc: kill(0) is all we have
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d the job spawned is still alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestTimeoutKillsTheWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	begin := time.Now()
	res := run(t, Spec{Type: TypeCommand, Timeout: 300 * time.Millisecond, KillGrace: 300 * time.Millisecond,
		// The child ignores SIGTERM and holds the output pipe: only the
		// group's SIGKILL ends it.
		Command: `sh -c 'trap "" TERM; echo $$ > ` + pidFile + `; exec sleep 1000' & wait`})
	took := time.Since(begin)
	if !res.TimedOut || res.Canceled || res.ExitCode != -1 || res.Signal != "terminated" {
		t.Fatalf("result %+v", res)
	}
	if took < 600*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Run took %s for a 300ms timeout and a 300ms grace", took)
	}
	waitGone(t, readPID(t, pidFile))
}

func TestTimeoutKillsALeaderIgnoringTERM(t *testing.T) {
	begin := time.Now()
	res := run(t, Spec{Type: TypeCommand, Timeout: 200 * time.Millisecond, KillGrace: 200 * time.Millisecond,
		Command: `trap "" TERM; echo started; while :; do sleep 0.05; done`})
	if !res.TimedOut || res.ExitCode != -1 || res.Signal != "killed" || string(res.Output) != "started\n" {
		t.Fatalf("result %+v", res)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Fatalf("Run took %s", took)
	}
}

func TestNoTimeoutWhenDoneInTime(t *testing.T) {
	res := run(t, Spec{Type: TypeCommand, Timeout: 5 * time.Second, Command: "exit 4"})
	if res.TimedOut || res.Canceled || res.ExitCode != 4 {
		t.Fatalf("result %+v", res)
	}
}

func TestCancelKillsTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	begin := time.Now()
	res, err := Run(ctx, Spec{Type: TypeCommand, KillGrace: 5 * time.Second,
		Command: `sleep 1000 & echo $! > ` + pidFile + `; wait`})
	if err != nil || !res.Canceled || res.TimedOut || res.Signal != "terminated" {
		t.Fatalf("result %+v %v", res, err)
	}
	// Everything died of SIGTERM: no need to wait for the grace.
	if took := time.Since(begin); took > 2*time.Second {
		t.Fatalf("Run took %s", took)
	}
	waitGone(t, readPID(t, pidFile))
}

func TestCanceledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, Spec{Type: TypeCommand, Command: "echo hi"})
	if !errors.Is(err, context.Canceled) || !res.Canceled || res.ExitCode != -1 {
		t.Fatalf("result %+v %v", res, err)
	}
}

// On timeout, every process of the group gets SIGTERM and the grace to act
// on it, even after the leader died.
func TestGroupGetsTheGrace(t *testing.T) {
	res := run(t, Spec{Type: TypeCommand, Timeout: 200 * time.Millisecond, KillGrace: 3 * time.Second,
		Command: `sh -c 'trap "sleep 0.2; echo child cleaned up; exit 0" TERM; while :; do sleep 0.05; done' & wait`})
	if !res.TimedOut || !strings.Contains(string(res.Output), "child cleaned up") {
		t.Fatalf("result %+v, output %q", res, res.Output)
	}
}

func TestStragglersDieWithTheRun(t *testing.T) {
	for name, redirect := range map[string]string{"detached": "> /dev/null 2>&1", "holding the output pipe": ""} {
		t.Run(name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "child")
			begin := time.Now()
			res := run(t, Spec{Type: TypeCommand, KillGrace: 3 * time.Second,
				Command: `sleep 1000 ` + redirect + ` & echo $! > ` + pidFile + `; echo done`})
			if res.ExitCode != 0 || res.TimedOut || res.Canceled || string(res.Output) != "done\n" {
				t.Fatalf("result %+v", res)
			}
			if took := time.Since(begin); took > 2*time.Second {
				t.Fatalf("Run took %s", took)
			}
			waitGone(t, readPID(t, pidFile))
		})
	}
}

// A process that left the group cannot be killed with it, but it cannot
// keep Run waiting on the output pipe it holds beyond the grace either.
func TestEscapedProcessDoesNotHangRun(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid here")
	}
	pidFile := filepath.Join(t.TempDir(), "escaped")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	begin := time.Now()
	res := run(t, Spec{Type: TypeCommand, KillGrace: 300 * time.Millisecond,
		Command: `setsid sh -c 'echo $$ > ` + pidFile + `.tmp; mv ` + pidFile + `.tmp ` + pidFile + `; exec sleep 1000' &
			while [ ! -e ` + pidFile + ` ]; do sleep 0.01; done; echo done`})
	if took := time.Since(begin); took < 300*time.Millisecond || took > 2*time.Second {
		t.Fatalf("Run took %s with a 300ms grace", took)
	}
	if res.ExitCode != 0 || string(res.Output) != "done\n" {
		t.Fatalf("result %+v", res)
	}
	if pid := readPID(t, pidFile); !alive(pid) {
		t.Fatalf("the escaped process %d is gone: the test did not test the pipe", pid)
	}
}

func TestOutputKeepsTheTail(t *testing.T) {
	// seq's output is different everywhere, so the tail is checked exactly.
	var seq strings.Builder
	for i := 1; seq.Len() < 1<<20; i++ {
		seq.WriteString(strconv.Itoa(i) + "\n")
	}
	all := seq.String()[:1<<20]
	for _, limit := range []int{0, 1000} {
		res := run(t, Spec{Type: TypeCommand, OutputLimit: limit, Command: "seq 1 1000000 | head -c 1048576"})
		keep := limit
		if keep == 0 {
			keep = DefaultOutputLimit
		}
		if res.OutputBytes != 1<<20 || !res.Truncated || string(res.Output) != all[len(all)-keep:] {
			t.Errorf("limit %d: bytes %d truncated %v kept %d, tail ends %q", limit, res.OutputBytes, res.Truncated, len(res.Output),
				res.Output[max(0, len(res.Output)-20):])
		}
	}
	if res := run(t, Spec{Type: TypeCommand, OutputLimit: 4, Command: "printf abcd"}); res.Truncated || string(res.Output) != "abcd" {
		t.Errorf("output of exactly the limit: %+v", res)
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return 0, errors.New("disk full")
}

func TestOutputIsStreamed(t *testing.T) {
	var buf bytes.Buffer
	res := run(t, Spec{Type: TypeCommand, OutputLimit: 10, Output: &buf, Command: "seq 1 1000"})
	if want, _ := exec.Command("seq", "1", "1000").Output(); !bytes.Equal(buf.Bytes(), want) || res.OutputErr != nil {
		t.Errorf("streamed %d bytes, want %d (%v)", buf.Len(), len(want), res.OutputErr)
	}
	// A failing stream stops, the job and its tail do not.
	fw := &failingWriter{}
	res = run(t, Spec{Type: TypeCommand, Output: fw, Command: "echo a; sleep 0.05; echo b; exit 2"})
	if res.ExitCode != 2 || string(res.Output) != "a\nb\n" || res.OutputErr == nil || fw.n != 2 {
		t.Errorf("result %+v, writer got %d bytes", res, fw.n)
	}
}

func TestScriptsAndBinaries(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shebang := file("shebang", "#!/bin/sh\necho \"shebang $0 $1 $2\"\n", 0o755)
	plain := file("plain", "echo \"plain $1\"\nexit 5\n", 0o644)
	shebangNoExec := file("shebang-noexec", "#!/bin/sh\necho hi\n", 0o644)
	echo, err := exec.LookPath("echo")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(echo)
	if err != nil {
		t.Fatal(err)
	}
	bin := file("tool", string(b), 0o755)
	binNoExec := file("tool-noexec", string(b), 0o644)

	for _, tc := range []struct {
		spec Spec
		out  string
		code int
	}{
		{Spec{Type: TypeScript, Path: shebang, Args: []string{"x", "y z"}}, "shebang " + shebang + " x y z\n", 0},
		{Spec{Type: TypeScript, Path: plain, Args: []string{"z"}}, "plain z\n", 5},
		{Spec{Type: TypeBinary, Path: bin, Args: []string{"binary", "ok"}}, "binary ok\n", 0},
		{Spec{Type: TypeCommand, Command: `echo "$#: $1, $2"`, Args: []string{"a b", "c"}}, "2: a b, c\n", 0},
	} {
		res := run(t, tc.spec)
		if string(res.Output) != tc.out || res.ExitCode != tc.code {
			t.Errorf("%s %s: output %q exit %d, want %q %d", tc.spec.Type, tc.spec.Path, res.Output, res.ExitCode, tc.out, tc.code)
		}
	}

	for _, tc := range []struct {
		spec Spec
		is   error
	}{
		{Spec{Type: TypeScript, Path: shebangNoExec}, ErrInvalidSpec},
		{Spec{Type: TypeBinary, Path: binNoExec}, ErrInvalidSpec},
		{Spec{Type: TypeBinary, Path: "tool"}, ErrInvalidSpec},
		{Spec{Type: TypeScript, Path: dir}, ErrInvalidSpec},
		{Spec{Type: TypeBinary, Path: filepath.Join(dir, "missing")}, os.ErrNotExist},
		{Spec{Type: TypeCommand, Command: " "}, ErrInvalidSpec},
		{Spec{Type: "lambda"}, ErrInvalidSpec},
		{Spec{}, ErrInvalidSpec},
	} {
		if _, err := Run(context.Background(), tc.spec); !errors.Is(err, tc.is) {
			t.Errorf("%+v: error %v, want %v", tc.spec, err, tc.is)
		}
	}
	_, err = Run(context.Background(), Spec{Type: TypeScript, Path: shebangNoExec})
	if !strings.Contains(fmtErr(err), "not executable") {
		t.Errorf("error does not say why: %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestRunAsUser(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody here")
	}
	// The validation, both ways, whoever runs the test.
	if _, _, err := runAs("nobody", 1000); !errors.Is(err, ErrSwitchUser) {
		t.Errorf("non-root agent, run as nobody: %v", err)
	}
	if u, cred, err := runAs("nobody", 0); err != nil || cred == nil || strconv.Itoa(int(cred.Uid)) != nobody.Uid || u.Username != "nobody" {
		t.Errorf("root agent, run as nobody: %+v %+v %v", u, cred, err)
	}
	if _, cred, err := runAs(nobody.Uid, 0); err != nil || cred == nil || strconv.Itoa(int(cred.Uid)) != nobody.Uid {
		t.Errorf("run as uid %s: %+v %v", nobody.Uid, cred, err)
	}
	if _, cred, err := runAs("nobody", mustAtoi(t, nobody.Uid)); err != nil || cred != nil {
		t.Errorf("run as oneself needs no switch: %+v %v", cred, err)
	}
	for _, name := range []string{"no-such-user-here", "4000000000"} {
		if _, err := Run(context.Background(), Spec{Type: TypeCommand, Command: "true", User: name}); !errors.Is(err, ErrUnknownUser) {
			t.Errorf("unknown user %q: %v", name, err)
		}
	}

	if os.Geteuid() != 0 {
		if _, err := Run(context.Background(), Spec{Type: TypeCommand, Command: "id -u", User: "nobody"}); !errors.Is(err, ErrSwitchUser) {
			t.Fatalf("Run as nobody without root: %v", err)
		}
		return
	}
	res := run(t, Spec{Type: TypeCommand, Command: `id -u; id -G; echo "$USER $LOGNAME $HOME"; pwd`, User: "nobody"})
	gids, _ := nobody.GroupIds()
	want := nobody.Uid + "\n" + strings.Join(gids, " ") + "\nnobody nobody " + nobody.HomeDir + "\n" + os.TempDir() + "\n"
	if string(res.Output) != want {
		t.Fatalf("ran as\n%s\nwant\n%s", res.Output, want)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func BenchmarkRunTrue(b *testing.B) {
	path, err := exec.LookPath("true")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if res, err := Run(context.Background(), Spec{Type: TypeBinary, Path: path}); err != nil || res.ExitCode != 0 {
			b.Fatal(res, err)
		}
	}
}

// A binary still open for writing somewhere (ETXTBSY) is retried briefly.
func TestStartRetriesTextFileBusy(t *testing.T) {
	echo, err := exec.LookPath("echo")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(echo)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "tool")
	f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), Spec{Type: TypeBinary, Path: bin}); !errors.Is(err, syscall.ETXTBSY) {
		t.Fatalf("open for writing all along: %v", err)
	}
	time.AfterFunc(30*time.Millisecond, func() { f.Close() })
	if res := run(t, Spec{Type: TypeBinary, Path: bin, Args: []string{"ok"}}); string(res.Output) != "ok\n" {
		t.Fatalf("output %q", res.Output)
	}
}
