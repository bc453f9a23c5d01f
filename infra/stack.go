// Package infra is fleetcron's CDK app in Go: NewFleetcronStack deploys the
// table, bucket, queues, functions, HTTP API, schedule group and the
// Scheduler's role; NewAgentFleet attaches agents to an autoscaling group.
// Names of table attributes and indexes, environment variables and queue
// names come from the code's own packages, so infra and code cannot drift.
package infra

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/fleetcron/fleetcron/pkg/awsapp"
	"github.com/fleetcron/fleetcron/pkg/dynamodb"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/sqs"
)

// Defaults of FleetcronStackProps.
const (
	sweeperTimeout     = 300
	DefaultMaxReceives = 10
	DefaultLogDays     = awslogs.RetentionDays_ONE_MONTH
)

// FleetcronStackProps configures the stack.
type FleetcronStackProps struct {
	awscdk.StackProps
	// Name prefixes every named resource ("fleetcron").
	Name string
	// Pools get one queue (and dead-letter queue) each; ["default"] if empty.
	Pools []string
	// FunctionsDir holds api.zip, fire.zip and sweeper.zip (make build).
	FunctionsDir string
	// DeletionProtection protects the table (and retains table and bucket).
	DeletionProtection bool
	// ThrottleRate and ThrottleBurst bound the HTTP API (requests/s).
	ThrottleRate  float64
	ThrottleBurst float64
}

// FleetcronStack is the deployed stack and what agents need of it.
type FleetcronStack struct {
	awscdk.Stack
	Table       awsdynamodb.Table
	Bucket      awss3.Bucket
	Queues      map[string]awssqs.Queue // by pool
	DeadLetters map[string]awssqs.Queue
	Functions   map[string]awslambda.Function // api, fire, sweeper
	Api         awsapigatewayv2.HttpApi
	// AgentPolicy is the managed policy an agent's instance role needs.
	AgentPolicy awsiam.ManagedPolicy
	// AgentEnv is the agent's environment (FLEETCRON_* variables).
	AgentEnv map[string]*string
}

func s(v string) *string { return jsii.String(v) }

// NewFleetcronStack builds the stack.
func NewFleetcronStack(scope constructs.Construct, id string, props *FleetcronStackProps) *FleetcronStack {
	p := *props
	if p.Name == "" {
		p.Name = "fleetcron"
	}
	if len(p.Pools) == 0 {
		p.Pools = []string{fleetcron.DefaultPool}
	}
	if p.ThrottleRate == 0 {
		p.ThrottleRate, p.ThrottleBurst = 50, 100
	}
	stack := awscdk.NewStack(scope, s(id), &p.StackProps)
	fs := &FleetcronStack{Stack: stack, Queues: map[string]awssqs.Queue{}, DeadLetters: map[string]awssqs.Queue{},
		Functions: map[string]awslambda.Function{}}
	removal := awscdk.RemovalPolicy_DESTROY
	if p.DeletionProtection {
		removal = awscdk.RemovalPolicy_RETAIN
	}

	// The table: keys, indexes and TTL from package dynamodb.
	key := func(name string) *awsdynamodb.Attribute {
		return &awsdynamodb.Attribute{Name: s(name), Type: awsdynamodb.AttributeType_STRING}
	}
	fs.Table = awsdynamodb.NewTable(stack, s("Table"), &awsdynamodb.TableProps{
		TableName:    s(p.Name),
		PartitionKey: key(dynamodb.AttrPK), SortKey: key(dynamodb.AttrSK),
		BillingMode:                      awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: jsii.Bool(true)},
		TimeToLiveAttribute:              s(dynamodb.AttrTTL),
		DeletionProtection:               jsii.Bool(p.DeletionProtection),
		Encryption:                       awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy:                    removal,
	})
	fs.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{IndexName: s(dynamodb.IndexKind),
		PartitionKey: key(dynamodb.AttrKindPK), SortKey: key(dynamodb.AttrKindSK)})
	fs.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{IndexName: s(dynamodb.IndexOwner),
		PartitionKey: key(dynamodb.AttrOwnerPK), SortKey: key(dynamodb.AttrOwnerSK)})

	// The bucket: scripts, binaries and full outputs by sha256.
	fs.Bucket = awss3.NewBucket(stack, s("Blobs"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		Versioned:         jsii.Bool(true),
		RemovalPolicy:     removal,
		AutoDeleteObjects: jsii.Bool(!p.DeletionProtection),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                          s("old-versions"),
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(30)),
		}},
	})

	// One queue and dead-letter queue per pool.
	queueURLs := map[string]*string{}
	for _, pool := range p.Pools {
		dlq := awssqs.NewQueue(stack, s("DeadLetters-"+pool), &awssqs.QueueProps{
			QueueName:         s(sqs.DeadLetterQueueName(p.Name, pool)),
			Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			RetentionPeriod:   awscdk.Duration_Days(jsii.Number(14)),
			VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(sweeperTimeout * 6)),
		})
		q := awssqs.NewQueue(stack, s("Queue-"+pool), &awssqs.QueueProps{
			QueueName:         s(sqs.QueueName(p.Name, pool)),
			Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
			EnforceSSL:        jsii.Bool(true),
			VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(60)),
			DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(DefaultMaxReceives)},
		})
		fs.Queues[pool], fs.DeadLetters[pool] = q, dlq
		queueURLs[pool] = q.QueueUrl()
		queueURLs[fleetcron.DeadLetterPool(pool)] = dlq.QueueUrl()
	}
	schedDLQ := awssqs.NewQueue(stack, s("SchedulerDeadLetters"), &awssqs.QueueProps{
		QueueName:  s(p.Name + "-scheduler-dlq"),
		Encryption: awssqs.QueueEncryption_SQS_MANAGED, EnforceSSL: jsii.Bool(true),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(14)),
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(sweeperTimeout * 6)),
	})

	group := awsscheduler.NewScheduleGroup(stack, s("ScheduleGroup"), &awsscheduler.ScheduleGroupProps{
		ScheduleGroupName: s(p.Name), RemovalPolicy: awscdk.RemovalPolicy_DESTROY})

	secret := awssecretsmanager.NewSecret(stack, s("AdminToken"), &awssecretsmanager.SecretProps{
		SecretName:  s(p.Name + "/admin-token"),
		Description: s("fleetcron bootstrap admin API token"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength: jsii.Number(48), ExcludePunctuation: jsii.Bool(true)},
	})

	// The functions, each with its own role and only the permissions it uses.
	queuesJSON := awscdk.Stack_Of(stack).ToJsonString(queueURLs, nil)
	env := map[string]*string{
		awsapp.EnvTable: fs.Table.TableName(), awsapp.EnvBucket: fs.Bucket.BucketName(),
		awsapp.EnvQueues: queuesJSON, awsapp.EnvMaxReceives: s(fmt.Sprint(DefaultMaxReceives)),
	}
	fn := func(name, doc string, timeout float64) awslambda.Function {
		logs := awslogs.NewLogGroup(stack, s("Logs-"+name), &awslogs.LogGroupProps{
			Retention: DefaultLogDays, RemovalPolicy: awscdk.RemovalPolicy_DESTROY})
		role := awsiam.NewRole(stack, s("Role-"+name), &awsiam.RoleProps{
			AssumedBy:   awsiam.NewServicePrincipal(s("lambda.amazonaws.com"), nil),
			Description: s("fleetcron " + name + " function"),
		})
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   &[]*string{s("logs:CreateLogStream"), s("logs:PutLogEvents")},
			Resources: &[]*string{logs.LogGroupArn(), s(*logs.LogGroupArn() + ":log-stream:*")},
		}))
		f := awslambda.NewFunction(stack, s("Function-"+name), &awslambda.FunctionProps{
			Description:  s(doc),
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: awslambda.Architecture_ARM_64(),
			Handler:      s("bootstrap"),
			Code:         awslambda.Code_FromAsset(s(filepath.Join(p.FunctionsDir, name+".zip")), nil),
			MemorySize:   jsii.Number(256),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(timeout)),
			Role:         role,
			LogGroup:     logs,
			Environment:  &env,
		})
		fs.Functions[name] = f
		return f
	}
	api := fn("api", "fleetcron HTTP API", 29)
	fire := fn("fire", "fleetcron fire: the run lock, then the queue", 10)
	sweeper := fn("sweeper", "fleetcron sweeper: dead letters and unsent runs", sweeperTimeout)

	// Scheduler assumes this role to invoke the fire function only.
	schedRole := awsiam.NewRole(stack, s("SchedulerRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(s("scheduler.amazonaws.com"), nil),
		Description: s("EventBridge Scheduler invoking the fleetcron fire function"),
	})
	schedRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: &[]*string{s("lambda:InvokeFunction")}, Resources: &[]*string{fire.FunctionArn()}}))
	schedRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: &[]*string{s("sqs:SendMessage")}, Resources: &[]*string{schedDLQ.QueueArn()}}))

	api.AddEnvironment(s(awsapp.EnvScheduleGroup), group.ScheduleGroupName(), nil)
	api.AddEnvironment(s(awsapp.EnvFireARN), fire.FunctionArn(), nil)
	api.AddEnvironment(s(awsapp.EnvSchedulerRoleARN), schedRole.RoleArn(), nil)
	api.AddEnvironment(s(awsapp.EnvSchedulerDLQARN), schedDLQ.QueueArn(), nil)
	api.AddEnvironment(s(awsapp.EnvAdminTokenSecret), secret.SecretArn(), nil)
	sweeper.AddEnvironment(s(awsapp.EnvSchedulerDLQARN), schedDLQ.QueueArn(), nil)

	// Least privilege, spelled out.
	tableRes := []*string{fs.Table.TableArn(), s(*fs.Table.TableArn() + "/index/*")}
	allow := func(f awslambda.Function, actions []string, resources []*string) {
		var acts []*string
		for _, a := range actions {
			acts = append(acts, s(a))
		}
		f.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{Actions: &acts, Resources: &resources}))
	}
	tableRW := []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"}
	var sendTo []*string
	for _, pool := range sortedPools(fs.Queues) {
		sendTo = append(sendTo, fs.Queues[pool].QueueArn())
	}
	blobs := []*string{s(*fs.Bucket.BucketArn() + "/blobs/*")}
	allow(api, tableRW, tableRes)
	allow(api, []string{"s3:GetObject", "s3:PutObject"}, blobs)
	allow(api, []string{"sqs:SendMessage"}, sendTo)
	allow(api, []string{"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:GetSchedule", "scheduler:DeleteSchedule"},
		[]*string{s(fmt.Sprintf("arn:%s:scheduler:%s:%s:schedule/%s/*", *stack.Partition(), *stack.Region(), *stack.Account(), p.Name))})
	allow(api, []string{"iam:PassRole"}, []*string{schedRole.RoleArn()})
	allow(api, []string{"secretsmanager:GetSecretValue"}, []*string{secret.SecretArn()})
	allow(fire, tableRW[:4], tableRes[:1])
	allow(fire, []string{"dynamodb:Query"}, tableRes[:1])
	allow(fire, []string{"sqs:SendMessage"}, sendTo)
	allow(sweeper, tableRW, tableRes)
	allow(sweeper, []string{"sqs:SendMessage"}, sendTo)

	// The sweeper reads every dead-letter queue and runs every 5 minutes.
	for _, pool := range sortedPools(fs.DeadLetters) {
		sweeper.AddEventSource(awslambdaeventsources.NewSqsEventSource(fs.DeadLetters[pool], &awslambdaeventsources.SqsEventSourceProps{
			BatchSize: jsii.Number(10), ReportBatchItemFailures: jsii.Bool(true)}))
	}
	sweeper.AddEventSource(awslambdaeventsources.NewSqsEventSource(schedDLQ, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize: jsii.Number(10), ReportBatchItemFailures: jsii.Bool(true)}))
	awsevents.NewRule(stack, s("SweepEvery5Minutes"), &awsevents.RuleProps{
		Schedule: awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(5))),
		Targets:  &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(sweeper, nil)},
	})

	// The HTTP API: every route to the API function, throttled.
	fs.Api = awsapigatewayv2.NewHttpApi(stack, s("HttpApi"), &awsapigatewayv2.HttpApiProps{ApiName: s(p.Name)})
	accessLogs := awslogs.NewLogGroup(stack, s("Logs-api-access"), &awslogs.LogGroupProps{
		Retention: DefaultLogDays, RemovalPolicy: awscdk.RemovalPolicy_DESTROY})
	// Throttling and access logs on the default stage.
	stage := fs.Api.DefaultStage()
	cfnStage := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingRateLimit: jsii.Number(p.ThrottleRate), ThrottlingBurstLimit: jsii.Number(p.ThrottleBurst)})
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: accessLogs.LogGroupArn(), Format: s(accessLogFormat)})
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(s("ApiIntegration"), api, nil)
	for _, rt := range Routes {
		fs.Api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{Path: s(rt.Path),
			Methods: &[]awsapigatewayv2.HttpMethod{rt.Method}, Integration: integration})
	}

	// cdk-nag findings that are decisions, each with its reason.
	suppress(secret, "AwsSolutions-SMG4", "the bootstrap admin token is replaced by per-user tokens (POST /tokens); rotating it would break automation that reads it, so rotation is the operator's call")
	suppress(fs.Bucket, "AwsSolutions-S1", "only fleetcron's roles read and write this bucket (content-addressed blobs); CloudTrail data events audit access when an operator wants them, without a second bucket")
	suppress(schedDLQ, "AwsSolutions-SQS3", "this queue is the dead-letter queue of the Scheduler's deliveries (DeadLetterConfig of every schedule), which cdk-nag cannot see")
	suppress(fs.Api, "AwsSolutions-APIG4", "every route but /healthz requires a bearer API token, checked by the API function (tokens stored as SHA-256, compared in constant time); API Gateway passes requests through")
	for _, f := range fs.Functions {
		suppress(f.Role(), "AwsSolutions-IAM5", "wildcards are scoped to fleetcron's own resources: its log group's streams (named by Lambda), the table's two indexes, the blobs prefix (keys are content hashes), and the deployment's schedule group (schedules are named by job id)")
	}
	fs.AgentEnv = map[string]*string{awsapp.EnvTable: fs.Table.TableName(), awsapp.EnvBucket: fs.Bucket.BucketName(),
		awsapp.EnvQueues: queuesJSON}
	fs.AgentPolicy = newAgentPolicy(stack, p.Name, fs, tableRes, blobs)
	suppress(fs.AgentPolicy, "AwsSolutions-IAM5", "the only wildcard is the blobs prefix: agents fetch scripts and store outputs under keys that are content hashes")

	out := func(name, desc string, v *string) {
		awscdk.NewCfnOutput(stack, s(name), &awscdk.CfnOutputProps{Value: v, Description: s(desc)})
	}
	out("ApiUrl", "the fleetcron API", stage.Url())
	out("AdminTokenSecret", "Secrets Manager secret holding the bootstrap admin token", secret.SecretName())
	out("QueueUrls", "queue URLs by pool", queuesJSON)
	out("AgentPolicyArn", "managed policy to attach to the instance role of agents", fs.AgentPolicy.ManagedPolicyArn())
	out("AgentEnvironment", "the agent's /etc/fleetcron/agent.env", agentEnvFile(stack, fs.AgentEnv))
	out("TableName", "the DynamoDB table", fs.Table.TableName())
	out("BucketName", "the blob bucket", fs.Bucket.BucketName())
	out("FireFunctionName", "the fire function (the harness invokes it where nothing fires schedules)", fire.FunctionName())
	out("ScheduleGroupName", "the schedule group", group.ScheduleGroupName())
	return fs
}

// accessLogFormat writes one JSON line per API request.
const accessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"time":"$context.requestTime","method":"$context.httpMethod","route":"$context.routeKey",` +
	`"status":"$context.status","bytes":"$context.responseLength","latencyMs":"$context.responseLatency"}`

// suppress records a cdk-nag rule that does not apply, with its reason.
func suppress(c constructs.IConstruct, rule, reason string) {
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{{Id: s(rule), Reason: s(reason)}}, jsii.Bool(true))
}

func sortedPools[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// agentEnvFile renders the agent's environment file lines.
func agentEnvFile(stack awscdk.Stack, env map[string]*string) *string {
	var parts []*string
	for _, k := range sortedPools(env) {
		parts = append(parts, s(k+"="), env[k], s("\n"))
	}
	return awscdk.Fn_Join(s(""), &parts)
}

// Route is one route of the HTTP API.
type Route struct {
	Method awsapigatewayv2.HttpMethod
	Path   string
}

// Routes are the API's routes (pkg/api's route table in API Gateway's syntax).
var Routes = []Route{
	{awsapigatewayv2.HttpMethod_GET, "/healthz"},
	{awsapigatewayv2.HttpMethod_GET, "/openapi.json"},
	{awsapigatewayv2.HttpMethod_POST, "/jobs"},
	{awsapigatewayv2.HttpMethod_GET, "/jobs"},
	{awsapigatewayv2.HttpMethod_GET, "/jobs/{id}"},
	{awsapigatewayv2.HttpMethod_PATCH, "/jobs/{id}"},
	{awsapigatewayv2.HttpMethod_DELETE, "/jobs/{id}"},
	{awsapigatewayv2.HttpMethod_POST, "/jobs/{id}/run"},
	{awsapigatewayv2.HttpMethod_POST, "/jobs/{id}/pause"},
	{awsapigatewayv2.HttpMethod_POST, "/jobs/{id}/resume"},
	{awsapigatewayv2.HttpMethod_GET, "/jobs/{id}/runs"},
	{awsapigatewayv2.HttpMethod_GET, "/runs/{id}"},
	{awsapigatewayv2.HttpMethod_GET, "/runs/{id}/output"},
	{awsapigatewayv2.HttpMethod_GET, "/agents"},
	{awsapigatewayv2.HttpMethod_POST, "/tokens"},
	{awsapigatewayv2.HttpMethod_GET, "/tokens"},
	{awsapigatewayv2.HttpMethod_DELETE, "/tokens/{id}"},
}
