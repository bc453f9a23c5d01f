// Package awsapp assembles fleetcron on AWS: the DynamoDB store, the SQS
// queues, the S3 blobs and EventBridge Scheduler adapters under the same job,
// fire and sweeper services the dev server runs, and the handlers the Lambda
// functions start (API, fire, sweeper). The functions' mains read their
// environment into a Config and start these handlers; the end-to-end tests
// build the same App against the emulators.
package awsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	awssched "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	fcevents "github.com/fleetcron/fleetcron/events"
	"github.com/fleetcron/fleetcron/pkg/api"
	"github.com/fleetcron/fleetcron/pkg/awsclient"
	"github.com/fleetcron/fleetcron/pkg/dynamodb"
	"github.com/fleetcron/fleetcron/pkg/fire"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/jobs"
	"github.com/fleetcron/fleetcron/pkg/lambdahttp"
	"github.com/fleetcron/fleetcron/pkg/s3"
	"github.com/fleetcron/fleetcron/pkg/scheduler"
	"github.com/fleetcron/fleetcron/pkg/sqs"
	"github.com/fleetcron/fleetcron/pkg/sweeper"
	"github.com/fleetcron/fleetcron/pkg/tokens"
)

// Config names a deployment's resources (the stack passes them to the
// functions as environment variables, see Env).
type Config struct {
	Table            string
	Bucket           string
	Queues           map[string]string // pool → queue URL, and DeadLetterPool(pool) → its DLQ URL
	ScheduleGroup    string
	FireARN          string
	SchedulerRoleARN string
	SchedulerDLQARN  string // queue ARN of failed Scheduler deliveries
	MaxReceives      int    // the queues' redrive count, for messages
	AdminToken       string // the bootstrap admin token ("" = none)
}

// Environment variable names of Config, shared with the CDK stack.
const (
	EnvTable            = "FLEETCRON_TABLE"
	EnvBucket           = "FLEETCRON_BUCKET"
	EnvQueues           = "FLEETCRON_QUEUES" // JSON object pool → URL
	EnvScheduleGroup    = "FLEETCRON_SCHEDULE_GROUP"
	EnvFireARN          = "FLEETCRON_FIRE_ARN"
	EnvSchedulerRoleARN = "FLEETCRON_SCHEDULER_ROLE_ARN"
	EnvSchedulerDLQARN  = "FLEETCRON_SCHEDULER_DLQ_ARN"
	EnvMaxReceives      = "FLEETCRON_MAX_RECEIVES"
	EnvAdminTokenSecret = "FLEETCRON_ADMIN_TOKEN_SECRET" // Secrets Manager secret id
)

// FromEnv reads a Config with getenv (os.Getenv in mains). AdminToken is
// left for the main to resolve from Secrets Manager.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{Table: getenv(EnvTable), Bucket: getenv(EnvBucket), ScheduleGroup: getenv(EnvScheduleGroup),
		FireARN: getenv(EnvFireARN), SchedulerRoleARN: getenv(EnvSchedulerRoleARN), SchedulerDLQARN: getenv(EnvSchedulerDLQARN),
		MaxReceives: 10}
	if c.Table == "" {
		return c, fmt.Errorf("%s is not set", EnvTable)
	}
	if q := getenv(EnvQueues); q != "" {
		if err := json.Unmarshal([]byte(q), &c.Queues); err != nil {
			return c, fmt.Errorf("%s: want a JSON object of pool to queue URL: %w", EnvQueues, err)
		}
	}
	if m := getenv(EnvMaxReceives); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 {
			return c, fmt.Errorf("%s: want a positive number, got %q", EnvMaxReceives, m)
		}
		c.MaxReceives = n
	}
	return c, nil
}

// App is fleetcron on AWS.
type App struct {
	cfg       Config
	log       *slog.Logger
	Store     *dynamodb.Store
	Queue     *sqs.Queue
	Blobs     *s3.Blobs
	Schedules *scheduler.Schedules
	Jobs      *jobs.Service
	Fire      *fire.Service
	Tokens    *tokens.Service
	Sweeper   *sweeper.Service
	API       *api.Server
}

// New builds the App's clients once (Lambda init) and wires the services.
func New(ctx context.Context, awsCfg aws.Config, c Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.Default()
	}
	a := &App{cfg: c, log: log}
	a.Store = dynamodb.New(ddb.NewFromConfig(awsCfg), c.Table)
	a.Queue = sqs.New(awssqs.NewFromConfig(awsCfg), c.Queues)
	a.Blobs = s3.New(awss3.NewFromConfig(awsCfg, awsclient.S3Options(awsCfg)), c.Bucket, "")
	a.Schedules = scheduler.New(awssched.NewFromConfig(awsCfg), scheduler.Config{Group: c.ScheduleGroup,
		TargetARN: c.FireARN, RoleARN: c.SchedulerRoleARN, DeadLetterARN: c.SchedulerDLQARN})
	a.Jobs = jobs.New(a.Store, a.Store, a.Blobs, a.Schedules, jobs.WithLogger(log))
	a.Fire = fire.New(a.Store, a.Store, a.Queue, fire.WithOutcome(a.Jobs), fire.WithLogger(log))
	a.Jobs.SetFirer(a.Fire)
	a.Tokens = tokens.New(a.Store)
	a.Sweeper = sweeper.New(a.Store, a.Store, a.Fire, a.Jobs, log)
	a.API = api.New(a.Jobs, a.Tokens, a.Store, api.WithLogger(log))
	if c.AdminToken != "" {
		if err := a.Tokens.Bootstrap(ctx, c.AdminToken); err != nil {
			return nil, fmt.Errorf("bootstrap admin token: %w", err)
		}
	}
	return a, nil
}

// HandleAPI serves API Gateway HTTP API events with the API handler.
func (a *App) HandleAPI(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return lambdahttp.Handler(a.API)(ctx, req)
}

// HandleFire handles one Scheduler delivery. Final outcomes (the job is
// gone, paused or finished; the input is malformed) are acknowledged; other
// errors fail the invocation so it is retried.
func (a *App) HandleFire(ctx context.Context, f fcevents.Fire) error {
	_, err := a.Fire.Fire(ctx, f)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fire.ErrIgnored), errors.Is(err, fleetcron.ErrNotFound), errors.Is(err, fleetcron.ErrInvalid):
		a.log.InfoContext(ctx, "fire acknowledged without a run", "job", f.JobID, "scheduled", f.ScheduledTime,
			"execution", f.ExecutionID, "why", err.Error())
		return nil
	}
	return fmt.Errorf("fire job %s at %s: %w", f.JobID, f.ScheduledTime, err)
}

// HandleSweep handles the sweeper's events: SQS batches from the run
// dead-letter queues and the Scheduler's, or a periodic tick (any other
// event) that runs a sweep.
func (a *App) HandleSweep(ctx context.Context, raw json.RawMessage) (events.SQSEventResponse, error) {
	var batch events.SQSEvent
	if err := json.Unmarshal(raw, &batch); err != nil || len(batch.Records) == 0 {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		_, err := a.Sweeper.Sweep(ctx)
		return events.SQSEventResponse{}, err
	}
	var resp events.SQSEventResponse
	for _, rec := range batch.Records {
		if err := a.sweepRecord(ctx, rec); err != nil {
			a.log.ErrorContext(ctx, "dead letter not handled; it will be retried", "message", rec.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp, nil
}

func (a *App) sweepRecord(ctx context.Context, rec events.SQSMessage) error {
	if a.cfg.SchedulerDLQARN != "" && rec.EventSourceARN == a.cfg.SchedulerDLQARN {
		var f fcevents.Fire
		if err := json.Unmarshal([]byte(rec.Body), &f); err != nil {
			a.log.ErrorContext(ctx, "undeliverable fire with a malformed body dropped", "message", rec.MessageId)
			return nil
		}
		attr := func(k string) string {
			if v, ok := rec.MessageAttributes[k]; ok && v.StringValue != nil {
				return *v.StringValue
			}
			return ""
		}
		return a.Sweeper.MissedFire(ctx, f, attr("ERROR_CODE"), attr("ERROR_MESSAGE"))
	}
	var m fcevents.RunMessage
	if err := json.Unmarshal([]byte(rec.Body), &m); err != nil || m.RunID == "" {
		a.log.ErrorContext(ctx, "dead-lettered message with a malformed body dropped", "message", rec.MessageId)
		return nil
	}
	return a.Sweeper.DeadRun(ctx, m, a.cfg.MaxReceives)
}

// SecretString reads a Secrets Manager secret (the bootstrap admin token).
func SecretString(ctx context.Context, awsCfg aws.Config, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := secretsmanager.NewFromConfig(awsCfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", id, err)
	}
	return aws.ToString(out.SecretString), nil
}

// Boot is what every Lambda main does at init: the logger, the Config from
// getenv, the AWS config from the default chain, the bootstrap admin token
// from Secrets Manager when its secret is named, and the App.
func Boot(ctx context.Context, getenv func(string) string) (*App, *slog.Logger, error) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	c, err := FromEnv(getenv)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := awsclient.Load(ctx)
	if err != nil {
		return nil, nil, err
	}
	if id := getenv(EnvAdminTokenSecret); id != "" {
		if c.AdminToken, err = SecretString(ctx, cfg, id); err != nil {
			return nil, nil, err
		}
	}
	app, err := New(ctx, cfg, c, log)
	return app, log, err
}
