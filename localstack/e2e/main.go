// Command e2e is fleetcron's end-to-end run on LocalStack (make
// localstack-e2e): it creates jobs through the deployed API, fires them with
// the harness through Lambda Invoke of the deployed fire function, runs an
// agent process against LocalStack, and checks that every run succeeded.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	awssched "github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fleetcron/fleetcron/pkg/awsapp"
	"github.com/fleetcron/fleetcron/pkg/awsclient"
	"github.com/fleetcron/fleetcron/pkg/client"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/harness"
	"github.com/fleetcron/fleetcron/pkg/scheduler"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localstack e2e:", err)
		os.Exit(1)
	}
}

func run() error {
	outputsFile := flag.String("outputs", "localstack/outputs.json", "cdklocal deploy --outputs-file")
	flag.Parse()
	raw, err := os.ReadFile(*outputsFile)
	if err != nil {
		return err
	}
	var all map[string]map[string]string
	if err := json.Unmarshal(raw, &all); err != nil {
		return fmt.Errorf("%s: %w", *outputsFile, err)
	}
	out := all["Fleetcron"]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cfg, err := awsclient.Load(ctx)
	if err != nil {
		return err
	}
	secret, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(out["AdminTokenSecret"])})
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	api := client.New(out["ApiUrl"], aws.ToString(secret.SecretString))

	// An agent process against LocalStack.
	bin := filepath.Join(os.TempDir(), "fleetcron-agent-localstack")
	if b, err := exec.Command("go", "build", "-o", bin, "./agent").CombinedOutput(); err != nil {
		return fmt.Errorf("build agent: %v\n%s", err, b)
	}
	agent := exec.CommandContext(ctx, bin, "--id", "localstack-agent", "--imds=false", "--user", "", "--lease", "10s",
		"--cache-dir", filepath.Join(os.TempDir(), "fleetcron-localstack-cache"))
	agent.Env = append(os.Environ(), awsapp.EnvTable+"="+out["TableName"], awsapp.EnvBucket+"="+out["BucketName"],
		awsapp.EnvQueues+"="+out["QueueUrls"])
	agent.Stdout, agent.Stderr = os.Stdout, os.Stderr
	if err := agent.Start(); err != nil {
		return err
	}
	defer func() { _ = agent.Process.Kill(); _ = agent.Wait() }()

	sched := scheduler.New(awssched.NewFromConfig(cfg), scheduler.Config{Group: out["ScheduleGroupName"]})
	h := harness.New(sched, harness.LambdaDeliverer(awslambda.NewFromConfig(cfg), out["FireFunctionName"]))
	due := time.Now().UTC().Truncate(time.Minute)
	for _, body := range []map[string]any{
		{"executable": "echo hello from localstack", "schedule": "* * * * *"},
		{"type": "script", "executable": "s.sh", "schedule": "*/5 * * * *", "content": "IyEvYmluL3NoCmVjaG8gc2NyaXB0Cg=="},
	} {
		j, err := api.CreateJob(ctx, body)
		if err != nil {
			return fmt.Errorf("create job: %w", err)
		}
		at := due
		if body["schedule"] == "*/5 * * * *" {
			at = due.Truncate(5 * time.Minute)
		}
		if _, err := h.Fire(ctx, j.ID, at); err != nil {
			return err
		}
		id := fleetcron.RunID(j.ID, at)
		for {
			r, err := api.GetRun(ctx, id)
			if err == nil && r.State.Terminal() {
				if r.State != fleetcron.RunSucceeded {
					return fmt.Errorf("run %s ended %s: %s", id, r.State, r.Reason)
				}
				fmt.Printf("run %s succeeded: %q\n", id, r.Output)
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("run %s did not finish: %v", id, ctx.Err())
			}
			time.Sleep(time.Second)
		}
	}
	fmt.Println("localstack e2e: all runs succeeded")
	return nil
}
