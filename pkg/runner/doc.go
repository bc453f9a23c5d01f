// Package runner runs one job process for fleetcron's workers and agents: a
// shell command, a script or a binary, in its own process group, as the
// requested user, with a minimal environment (the agent's own environment,
// and its secrets, never reach a job), a timeout, and the tail of its output
// kept in a bounded buffer. On timeout or cancel the whole process group gets
// SIGTERM, then SIGKILL after a grace period; when the job's main process
// exits, anything it left running in its group is killed too, so a cron run
// never leaves stragglers behind.
package runner
