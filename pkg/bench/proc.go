package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procStatus reads the "Key: value" fields of /proc/pid/status (kB fields
// in bytes).
func procStatus(pid int) (map[string]int64, error) {
	return statusFile(fmt.Sprintf("/proc/%d/status", pid))
}

func statusFile(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	m := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		m[k] = n
	}
	return m, nil
}

// rss is a process's resident set in bytes.
func rss(pid int) (int64, error) {
	m, err := procStatus(pid)
	if err != nil {
		return 0, err
	}
	return m["VmRSS"], nil
}

// statFields are the fields of /proc/pid/stat after the command name.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, err := statFields(p)
		if err != nil || len(f) < 2 {
			continue
		}
		if pp, _ := strconv.Atoi(f[1]); pp == pid {
			out = append(out, p)
		}
	}
	return out
}

// tree lists pid and all its descendants.
func tree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children(out[i])...)
	}
	return out
}

// usage is what a process (all its threads) has used so far.
type usage struct {
	cpuTicks int64 // user + system, in clock ticks
	switches int64 // voluntary + involuntary context switches, all threads
}

func procUsage(pid int) (usage, error) {
	var u usage
	f, err := statFields(pid)
	if err != nil || len(f) < 13 {
		return u, fmt.Errorf("stat of %d: %v", pid, err)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	u.cpuTicks = ut + st
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	for _, t := range tasks {
		m, err := statusFile(t)
		if err != nil {
			continue // a thread that just ended
		}
		u.switches += m["voluntary_ctxt_switches"] + m["nonvoluntary_ctxt_switches"]
	}
	return u, nil
}

// fds counts a process's open file descriptors.
func fds(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("fds of %d: %w", pid, err)
	}
	return len(ents), nil
}

// clockTicks is USER_HZ: 100 on every Linux this runs on.
const clockTicks = 100
