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
		t.Fatal(err)
	}
	return res
}

func TestExitCodesAndOutput(t *testing.T) {
	res := run(t, Spec{Type: TypeCommand, Command: "echo out; echo err >&2; exit 3"})
	if res.ExitCode != 3 || res.TimedOut || res.Canceled {
		t.Fatalf("result %+v", res)
	}
	if got := string(res.Output); !strings.Contains(got, "out\n") || !strings.Contains(got, "err\n") {
		t.Fatalf("output %q", got)
	}
	if res := run(t, Spec{Type: TypeCommand, Command: "true"}); res.ExitCode != 0 || res.EndedAt.Before(res.StartedAt) {
		t.Fatalf("true: %+v", res)
	}
}

func TestEnvironmentIsNotInherited(t *testing.T) {
	t.Setenv("AGENT_SECRET", "hunter2")
	res := run(t, Spec{Type: TypeCommand, Command: "env", Env: map[string]string{"GREETING": "hi"}})
	out := string(res.Output)
	if strings.Contains(out, "hunter2") || strings.Contains(out, "AGENT_SECRET") {
		t.Fatalf("the agent's environment leaked into the job:\n%s", out)
	}
	if !strings.Contains(out, "GREETING=hi") || !strings.Contains(out, "PATH="+BasePath) {
		t.Fatalf("env:\n%s", out)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d the job spawned is still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func childPID(t *testing.T, path string) int {
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
	res := run(t, Spec{Type: TypeCommand, Timeout: 500 * time.Millisecond, KillGrace: 300 * time.Millisecond,
		// The child ignores SIGTERM, so only the group SIGKILL ends it.
		Command: `sh -c 'trap "" TERM; echo $$ > ` + pidFile + `; exec sleep 1000' & wait`})
	if !res.TimedOut || res.ExitCode != -1 || res.Signal == "" {
		t.Fatalf("result %+v", res)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("Run took %s for a 500ms timeout", d)
	}
	waitGone(t, childPID(t, pidFile))
}

func TestStragglersDieWithTheRun(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	res := run(t, Spec{Type: TypeCommand, KillGrace: 200 * time.Millisecond,
		Command: `sleep 1000 > /dev/null 2>&1 & echo $! > ` + pidFile + `; echo done`})
	if res.ExitCode != 0 || !strings.Contains(string(res.Output), "done") {
		t.Fatalf("result %+v", res)
	}
	waitGone(t, childPID(t, pidFile))
}

func TestCancelKillsTheGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	res, err := Run(ctx, Spec{Type: TypeCommand, KillGrace: 200 * time.Millisecond,
		Command: `sleep 1000 & echo $! > ` + pidFile + `; wait`})
	if err != nil || !res.Canceled || res.TimedOut {
		t.Fatalf("result %+v %v", res, err)
	}
	waitGone(t, childPID(t, pidFile))
}

func TestOutputKeepsTheTail(t *testing.T) {
	res := run(t, Spec{Type: TypeCommand, OutputLimit: 1000, Command: `head -c 1048576 /dev/zero | tr '\0' a; printf END`})
	if res.OutputBytes != 1<<20+3 || !res.Truncated || len(res.Output) != 1000 || !strings.HasSuffix(string(res.Output), "aaaEND") {
		t.Fatalf("bytes %d truncated %v kept %d tail %q", res.OutputBytes, res.Truncated, len(res.Output), res.Output[len(res.Output)-10:])
	}
}

func TestScriptsAndBinaries(t *testing.T) {
	dir := t.TempDir()
	withShebang := filepath.Join(dir, "a")
	os.WriteFile(withShebang, []byte("#!/bin/sh\necho \"shebang $1 $2\"\n"), 0o755)
	plain := filepath.Join(dir, "b")
	os.WriteFile(plain, []byte("echo \"plain $1\"\n"), 0o644)
	if res := run(t, Spec{Type: TypeScript, Path: withShebang, Args: []string{"x", "y"}}); strings.TrimSpace(string(res.Output)) != "shebang x y" {
		t.Fatalf("shebang script: %q", res.Output)
	}
	if res := run(t, Spec{Type: TypeScript, Path: plain, Args: []string{"z"}}); strings.TrimSpace(string(res.Output)) != "plain z" {
		t.Fatalf("plain script: %q", res.Output)
	}
	echo, err := exec.LookPath("echo")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tool")
	b, _ := os.ReadFile(echo)
	os.WriteFile(bin, b, 0o755)
	if res := run(t, Spec{Type: TypeBinary, Path: bin, Args: []string{"binary", "ok"}}); strings.TrimSpace(string(res.Output)) != "binary ok" {
		t.Fatalf("binary: %q", res.Output)
	}
	if _, err := Run(context.Background(), Spec{Type: TypeBinary, Path: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("a missing binary started")
	}
	if _, err := Run(context.Background(), Spec{Type: "lambda"}); err == nil {
		t.Fatal("unknown type accepted")
	}
}

func TestRunAsUser(t *testing.T) {
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	// As a non-root process, switching users is refused with ErrSwitchUser.
	if _, _, err := credential("nobody", 1000); !errors.Is(err, ErrSwitchUser) {
		t.Fatalf("non-root switch: %v", err)
	}
	if _, _, err := credential("no-such-user-here", 0); err == nil {
		t.Fatal("unknown user accepted")
	}
	if os.Getuid() != 0 {
		if _, err := Run(context.Background(), Spec{Type: TypeCommand, Command: "id -u", User: "nobody"}); !errors.Is(err, ErrSwitchUser) {
			t.Fatalf("Run as nobody without root: %v", err)
		}
		return
	}
	res := run(t, Spec{Type: TypeCommand, Command: "id -u; echo $USER", User: "nobody"})
	if got := strings.Fields(string(res.Output)); len(got) != 2 || got[0] != nobody.Uid || got[1] != "nobody" {
		t.Fatalf("ran as %q, want uid %s", res.Output, nobody.Uid)
	}
}

func TestTail(t *testing.T) {
	tl := newTail(5)
	for _, s := range []string{"ab", "cd", "ef", "g"} {
		tl.Write([]byte(s))
	}
	if got := string(tl.Bytes()); got != "cdefg" || tl.Total() != 7 {
		t.Fatalf("tail %q total %d", got, tl.Total())
	}
	tl.Write([]byte("0123456789"))
	if got := string(tl.Bytes()); got != "56789" {
		t.Fatalf("big write: %q", got)
	}
	tl2 := newTail(4)
	tl2.Write([]byte("abcd"))
	tl2.Write([]byte("ef"))
	if got := string(tl2.Bytes()); got != "cdef" {
		t.Fatalf("exact fill then wrap: %q", got)
	}
	for i := range 100 {
		tl2.Write([]byte{byte('a' + i%26)})
	}
	if got := string(tl2.Bytes()); got != "stuv" {
		t.Fatalf("many small writes: %q", got)
	}
}

func BenchmarkRunTrue(b *testing.B) {
	for b.Loop() {
		if _, err := Run(context.Background(), Spec{Type: TypeBinary, Path: "/bin/true"}); err != nil {
			b.Fatal(err)
		}
	}
}
