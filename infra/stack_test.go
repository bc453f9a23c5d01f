package infra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/fleetcron/fleetcron/infra"
)

// artifacts stands in for make build's output: the stack only needs files
// at the asset paths.
func artifacts(t *testing.T) (functions, agent string) {
	dir := t.TempDir()
	for _, f := range []string{"api.zip", "fire.zip", "sweeper.zip", "agent/fleetcron-agent", "agent/install.sh", "agent/fleetcron-agent.service"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("stand-in for "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, filepath.Join(dir, "agent")
}

type synthesized struct {
	stack    awscdk.Stack
	template assertions.Template
	raw      map[string]any
}

var cached *synthesized

// synth builds the stack with an agent fleet, with cdk-nag's checks, once.
func synth(t *testing.T) *synthesized {
	t.Helper()
	if cached != nil {
		return cached
	}
	functions, agent := artifacts(t)
	app := awscdk.NewApp(nil)
	fs := infra.NewFleetcronStack(app, "Fleetcron", &infra.FleetcronStackProps{
		StackProps:   awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("us-east-1")}},
		FunctionsDir: functions, Pools: []string{"default", "batch"}, DeletionProtection: true,
	})
	vpc := awsec2.NewVpc(fs.Stack, jsii.String("Vpc"), &awsec2.VpcProps{MaxAzs: jsii.Number(2)})
	cdknag.NagSuppressions_AddResourceSuppressions(vpc, &[]*cdknag.NagPackSuppression{{Id: jsii.String("AwsSolutions-VPC7"),
		Reason: jsii.String("a VPC made for this test; fleets run in the operator's VPC")}}, jsii.Bool(true))
	infra.NewAgentFleet(fs.Stack, "Agents", &infra.AgentFleetProps{Fleetcron: fs, Vpc: vpc, AgentDir: agent, MinCapacity: 2, MaxCapacity: 4})
	if os.Getenv("NONAG") == "" {
		awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	}
	tpl := assertions.Template_FromStack(fs.Stack, nil)
	cached = &synthesized{stack: fs.Stack, template: tpl, raw: *tpl.ToJSON()}
	return cached
}

func TestNagHasNoUnsuppressedErrors(t *testing.T) {
	st := synth(t)
	for _, level := range []string{"error", "warning"} {
		var found *[]*cxapi.SynthesisMessage
		if level == "error" {
			found = assertions.Annotations_FromStack(st.stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		} else {
			found = assertions.Annotations_FromStack(st.stack).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		}
		for _, m := range *found {
			t.Errorf("cdk-nag %s at %s: %v", level, *m.Id, m.Entry.Data)
		}
	}
}

func has(t *testing.T, st *synthesized, typ string, props map[string]any) {
	t.Helper()
	st.template.HasResourceProperties(jsii.String(typ), assertions.Match_ObjectLike(&props))
}

func TestResources(t *testing.T) {
	st := synth(t)
	tpl := st.template
	has(t, st, "AWS::DynamoDB::Table", map[string]any{
		"KeySchema":                        []any{map[string]any{"AttributeName": "pk", "KeyType": "HASH"}, map[string]any{"AttributeName": "sk", "KeyType": "RANGE"}},
		"BillingMode":                      "PAY_PER_REQUEST",
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		"TimeToLiveSpecification":          map[string]any{"AttributeName": "ttl", "Enabled": true},
		"DeletionProtectionEnabled":        true,
		"GlobalSecondaryIndexes": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"IndexName": "kind"}),
			assertions.Match_ObjectLike(&map[string]any{"IndexName": "owner"})}),
	})
	has(t, st, "AWS::S3::Bucket", map[string]any{
		"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
			map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}}}},
		"PublicAccessBlockConfiguration": map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true,
			"IgnorePublicAcls": true, "RestrictPublicBuckets": true},
		"VersioningConfiguration": map[string]any{"Status": "Enabled"},
	})
	has(t, st, "AWS::S3::BucketPolicy", map[string]any{"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
		assertions.Match_ObjectLike(&map[string]any{"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}})})}})
	tpl.ResourceCountIs(jsii.String("AWS::SQS::Queue"), jsii.Number(5)) // 2 pools × (queue + DLQ) + Scheduler's DLQ
	for _, pool := range []string{"default", "batch"} {
		has(t, st, "AWS::SQS::Queue", map[string]any{"QueueName": "fleetcron-" + pool, "SqsManagedSseEnabled": true,
			"RedrivePolicy": map[string]any{"maxReceiveCount": 10}})
	}
	tpl.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(3)) // api, fire, sweeper (deletion protection: no auto-delete handler)
	for _, d := range []string{"fleetcron HTTP API", "fleetcron fire: the run lock, then the queue", "fleetcron sweeper: dead letters and unsent runs"} {
		has(t, st, "AWS::Lambda::Function", map[string]any{"Description": d, "Runtime": "provided.al2023", "Architectures": []any{"arm64"},
			"Handler": "bootstrap", "Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{"FLEETCRON_TABLE": assertions.Match_AnyValue()})}})
	}
	has(t, st, "AWS::Logs::LogGroup", map[string]any{"RetentionInDays": 30})
	tpl.ResourceCountIs(jsii.String("AWS::ApiGatewayV2::Route"), jsii.Number(float64(len(infra.Routes))))
	has(t, st, "AWS::ApiGatewayV2::Stage", map[string]any{"StageName": "$default",
		"DefaultRouteSettings": map[string]any{"ThrottlingRateLimit": 50, "ThrottlingBurstLimit": 100},
		"AccessLogSettings":    assertions.Match_ObjectLike(&map[string]any{"Format": assertions.Match_StringLikeRegexp(jsii.String("requestId"))})})
	has(t, st, "AWS::Scheduler::ScheduleGroup", map[string]any{"Name": "fleetcron"})
	has(t, st, "AWS::IAM::Role", map[string]any{"AssumeRolePolicyDocument": map[string]any{"Statement": []any{
		assertions.Match_ObjectLike(&map[string]any{"Principal": map[string]any{"Service": "scheduler.amazonaws.com"}})}}})
	has(t, st, "AWS::SecretsManager::Secret", map[string]any{"Name": "fleetcron/admin-token",
		"GenerateSecretString": assertions.Match_ObjectLike(&map[string]any{"PasswordLength": 48})})
	has(t, st, "AWS::Lambda::EventSourceMapping", map[string]any{"FunctionResponseTypes": []any{"ReportBatchItemFailures"}})
	has(t, st, "AWS::Events::Rule", map[string]any{"ScheduleExpression": "rate(5 minutes)"})
	// The agent fleet: lifecycle hook, IMDSv2, encrypted disks, the agent policy.
	has(t, st, "AWS::AutoScaling::LifecycleHook", map[string]any{"LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
		"LifecycleHookName": "fleetcron-drain", "DefaultResult": "CONTINUE"})
	has(t, st, "AWS::EC2::LaunchTemplate", map[string]any{"LaunchTemplateData": assertions.Match_ObjectLike(&map[string]any{
		"MetadataOptions": map[string]any{"HttpTokens": "required"}})})
	has(t, st, "AWS::IAM::ManagedPolicy", map[string]any{"ManagedPolicyName": "fleetcron-agent"})
	for _, out := range []string{"ApiUrl", "AdminTokenSecret", "QueueUrls", "AgentPolicyArn", "AgentEnvironment"} {
		if outs := tpl.FindOutputs(jsii.String(out), nil); outs == nil || len(*outs) != 1 {
			t.Errorf("output %s missing", out)
		}
	}
}

// statements yields every IAM statement of the template with the logical
// id of the policy holding it and the roles it is attached to.
func statements(raw map[string]any, each func(policy string, roles []string, stmt map[string]any)) {
	res := raw["Resources"].(map[string]any)
	for id, r := range res {
		r := r.(map[string]any)
		props, _ := r["Properties"].(map[string]any)
		var doc map[string]any
		switch r["Type"] {
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			doc, _ = props["PolicyDocument"].(map[string]any)
		default:
			continue
		}
		var roles []string
		if rs, ok := props["Roles"].([]any); ok {
			for _, x := range rs {
				if m, ok := x.(map[string]any); ok {
					if ref, ok := m["Ref"].(string); ok {
						roles = append(roles, ref)
					}
				}
			}
		}
		for _, st := range doc["Statement"].([]any) {
			each(id, roles, st.(map[string]any))
		}
	}
}

func actions(stmt map[string]any) []string {
	switch a := stmt["Action"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

// No "*" action, no *FullAccess policy, and no function that can touch a
// resource it does not use.
func TestLeastPrivilege(t *testing.T) {
	st := synth(t)
	res := st.raw["Resources"].(map[string]any)
	statements(st.raw, func(policy string, _ []string, stmt map[string]any) {
		for _, a := range actions(stmt) {
			if a == "*" || strings.HasSuffix(a, ":*") {
				t.Errorf("policy %s allows every action: %q", policy, a)
			}
		}
	})
	for id, r := range res {
		r := r.(map[string]any)
		if r["Type"] != "AWS::IAM::Role" {
			continue
		}
		props := r["Properties"].(map[string]any)
		if arns, ok := props["ManagedPolicyArns"].([]any); ok {
			for _, arn := range arns {
				if b, _ := json.Marshal(arn); strings.Contains(string(b), "FullAccess") {
					t.Errorf("role %s has a FullAccess managed policy: %s", id, b)
				}
			}
		}
	}
	// Which services each function's role may call.
	roleOf := map[string]string{}
	for id, r := range res {
		r := r.(map[string]any)
		if r["Type"] != "AWS::Lambda::Function" {
			continue
		}
		props := r["Properties"].(map[string]any)
		desc, _ := props["Description"].(string)
		if role, ok := props["Role"].(map[string]any)["Fn::GetAtt"].([]any); ok && strings.HasPrefix(desc, "fleetcron") {
			roleOf[strings.Fields(desc)[1]] = role[0].(string)
			_ = id
		}
	}
	uses := map[string]map[string]bool{}
	statements(st.raw, func(_ string, roles []string, stmt map[string]any) {
		for _, role := range roles {
			for _, a := range actions(stmt) {
				if uses[role] == nil {
					uses[role] = map[string]bool{}
				}
				uses[role][a] = true
			}
		}
	})
	allowed := map[string][]string{
		"HTTP":  {"logs:", "dynamodb:", "s3:GetObject", "s3:PutObject", "sqs:SendMessage", "scheduler:", "iam:PassRole", "secretsmanager:GetSecretValue"},
		"fire:": {"logs:", "dynamodb:", "sqs:SendMessage"},
		"sweeper:": {"logs:", "dynamodb:", "sqs:SendMessage", "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl",
			"sqs:DeleteMessage", "sqs:GetQueueAttributes"},
	}
	if len(roleOf) != 3 {
		t.Fatalf("function roles found: %v", roleOf)
	}
	for fn, role := range roleOf {
		for a := range uses[role] {
			ok := false
			for _, prefix := range allowed[fn] {
				ok = ok || strings.HasPrefix(a, prefix)
			}
			if !ok {
				t.Errorf("function %q may call %s, which it does not use", fn, a)
			}
		}
	}
	if uses[roleOf["fire:"]]["s3:GetObject"] || uses[roleOf["fire:"]]["scheduler:CreateSchedule"] {
		t.Error("the fire function can reach S3 or the Scheduler")
	}
}
