// Package events holds fleetcron's wire contracts between components: the
// Input EventBridge Scheduler hands to the fire function, the message a fire
// puts on a pool's queue for the agents, and the events fleetcron emits.
// Each type has a golden sample under testdata/ and a round-trip test.
// AWS's own payloads (SQS, API Gateway, EventBridge) use
// github.com/aws/aws-lambda-go/events instead.
package events
