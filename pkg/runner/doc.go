// Package runner runs one job process for fleetcron's in-process workers and
// its EC2 agent: a shell command, a script or a binary, as the requested
// user, with a minimal environment (the agent's own environment, and its
// secrets, never reach a job), an optional timeout, and the tail of its
// combined output kept in a bounded ring buffer.
//
// Every run gets its own process group, and a run never leaves stragglers:
// on timeout or cancel the whole group gets SIGTERM and, after the kill grace
// (DefaultKillGrace unless Spec.KillGrace says otherwise), SIGKILL. When the
// job's main process exits on its own, whatever it left running in its group
// is torn down the same way: SIGTERM at once, SIGKILL at the end of the
// grace. Output pipes inherited by processes that escaped the group are
// abandoned after the grace, so Run always returns.
//
// Scripts that start with "#!" are executed directly and must be executable;
// scripts without "#!" run as "/bin/sh PATH ARGS...".
//
// The implementation is for Unix (Linux in production); elsewhere Run
// reports errors.ErrUnsupported.
package runner
