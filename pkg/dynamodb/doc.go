// Package dynamodb keeps fleetcron's jobs, runs, agents and API tokens in one
// DynamoDB table, and implements fleetcron.JobStore, RunStore, AgentStore and
// TokenStore on it.
//
// Table design (names are the constants below; the CDK stack imports them):
//
//	item    pk                sk                         kpk / ksk (index "kind")      opk / osk (index "owner")
//	job     JOB#<job id>      JOB                        JOB / <created ms>#<id>        OWNER#<owner> / <created ms>#<id>
//	run     JOB#<job id>      RUN#<scheduled ms, 20 d>   —                              —
//	agent   AGENT#<id>        AGENT                      AGENT / <id>                   —
//	token   TOKEN#<id>        TOKEN                      TOKEN / <id>                   —
//
// A job and its runs share a partition, so a job's runs are one Query, newest
// first. Records are stored as attributes named like their JSON fields; the
// attributes conditions compare on are kept beside them as numbers (lease and
// send-lease expiry in Unix ms) and counters (attempts_left = max attempts −
// attempts used), because condition expressions cannot do arithmetic or
// compare RFC 3339 strings of varying precision.
//
// The run lock is PutItem with attribute_not_exists(pk). A claim is an
// UpdateItem conditioned on the attempt the agent saw, attempts left, no
// cancel request, and the run queued or its lease expired; every later agent
// write is conditioned on lease owner and attempt (the fence). A failed
// condition returns the old item (ReturnValuesOnConditionCheckFailure), so
// "not found" and "condition failed" are told apart without another read.
//
// Write cost of one run: the lock, marking it enqueued, the claim, one write
// per heartbeat, the completion, and the job's last-run update — 6 writes for
// a run with one heartbeat, which DynamoDB Local meters at 8 WCU for a small
// job (TestWriteUnitsPerRun; an item over 1 KB costs one unit per started KB,
// so a long output tail costs more). The TTL attribute "ttl" (Unix seconds)
// expires run and agent records after the retention.
package dynamodb
