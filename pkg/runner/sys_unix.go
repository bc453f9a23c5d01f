//go:build unix && !linux

package runner

import "syscall"

func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}

// waitExited reports false: without waitid(WNOWAIT), the group is torn
// down once the leader is reaped.
func waitExited(int) bool { return false }

// groupLive answers true: without /proc, zombies cannot be told apart.
func groupLive(int) bool { return true }
