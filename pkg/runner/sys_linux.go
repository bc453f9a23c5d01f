package runner

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	// Pdeathsig: the leader dies with the agent even on kill -9 (the
	// agent's systemd unit, KillMode=control-group, takes the rest).
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred, Pdeathsig: syscall.SIGKILL}
}

// waitExited blocks until process pid has exited, without reaping it, and
// reports whether it could (waitid(WNOWAIT), as os does internally).
func waitExited(pid int) bool {
	const pPID = 1 // P_PID
	var siginfo [128]byte
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&siginfo)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if errno != syscall.EINTR {
			return errno == 0
		}
	}
}

// groupLive reports whether process group pgid has a member that is not a
// zombie. Killed stragglers stay in the group as zombies until their new
// parent reaps them, which some inits (a container's) do late or never.
// Without a readable /proc it answers true.
func groupLive(pgid int) bool {
	d, err := os.Open("/proc")
	if err != nil {
		return true
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return true
	}
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // gone since, or not ours to see
		}
		// pid (comm) state ppid pgrp ...; comm may hold anything but ')'
		// ends it.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		if f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}
