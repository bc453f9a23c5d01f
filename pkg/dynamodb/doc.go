// Package dynamodb keeps fleetcron's jobs, runs, agents and API tokens in one
// DynamoDB table, and implements fleetcron.JobStore, RunStore, AgentStore and
// TokenStore on it.
//
// Table design (names are the constants below; the CDK stack imports them):
//
//	item    pk           sk                         kpk / ksk (index "kind")   opk / osk (index "owner")
//	job     JOB#<id>     JOB                        JOB / <created ms>#<id>    OWNER#<owner> / <created ms>#<id>
//	run     JOB#<job>    RUN#<scheduled ms, 20 d>   —                          —
//	agent   AGENTS       <agent id>                 —                          —
//	token   TOKENS       <token id>                 —                          —
//
// A job and its runs share a partition, so a job's runs are one Query,
// newest first. Only jobs are indexed (to list them all, or an owner's, in
// creation order); agents and tokens each fill one partition and are listed
// by a consistent Query, so an agent's heartbeat record (every 30 s on every
// instance) costs one write unit, not one per index. Billing is on demand;
// the TTL attribute "ttl" (Unix seconds) expires run and agent records after
// their retention.
//
// Records are stored as attributes named like their JSON fields. The
// attributes conditions compare on are kept beside them as numbers (lease
// and send-lease expiry in Unix ms) and counters (attempts_left = max
// attempts − attempts used), because condition expressions cannot do
// arithmetic or compare RFC 3339 strings of varying precision.
//
// The run lock is PutItem with attribute_not_exists(pk). A claim is an
// UpdateItem conditioned on the attempt the agent saw, attempts left, no
// cancel request, and the run queued or its lease expired; every later agent
// write is conditioned on lease owner and attempt (the fence) and returns
// ALL_NEW. A failed condition returns the old item
// (ReturnValuesOnConditionCheckFailure ALL_OLD), so "not found" and
// "condition failed" (ErrConflict, or ErrFenced for a lease holder's write)
// are told apart without another read.
//
// Retries. The SDK resends a request whose answer was lost (a reset
// connection, a 5xx, throttling) although the first attempt may have been
// applied; the retry then fails its condition on our own write. The store
// counts the attempts of each conditional call, and only when there was more
// than one does it look at the old item for its own write: a put (the run
// lock, a job create or replace, a token) by the random write id "wid" it
// stored, so an identical payload from another writer is still a conflict;
// an update by the fields it sets (state, owner, attempt, lease expiry…),
// so an unrelated write in between, such as a cancel request, does not hide
// it. A token delete is a one-item transaction whose client request token
// makes its retry succeed (AWS and DynamoDB Local honour it; moto does not).
// MarkEnqueued, ExtendLease and PutAgent are idempotent as they are.
//
// Write cost of one run, as DynamoDB Local meters it (TestWriteUnitsPerRun):
// the lock, marking it enqueued, the claim, one write per heartbeat and the
// completion cost one unit each for a small job (a unit per started KB: a
// long output tail costs more), and the job's last-run update costs three,
// the item and its two indexes (they project ALL) — 8 WCU for a run with one
// heartbeat. Projecting the indexes KEYS_ONLY would make that update one
// unit (6 per run), at the price of a read per job listed; the sweeper lists
// every job every 5 minutes, so that only pays for jobs that run often.
// No pair of writes needs a transaction (a job's schedule lives in
// EventBridge Scheduler, not in this table, and a run's writes are single
// items); the only transaction is the token delete, for its idempotency.
package dynamodb
