package awsapp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/fleetcron/fleetcron/pkg/awsapp"
	"github.com/fleetcron/fleetcron/pkg/internal/emulator"
)

// runtimeAPI is a loopback Lambda Runtime API serving one event and
// recording the function's answer.
type runtimeAPI struct {
	event  []byte
	served chan struct{}
	answer chan string // "response: …" or "error: …"
}

func (rt *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == "GET" && r.URL.Path == "/2018-06-01/runtime/invocation/next":
		select {
		case <-rt.served: // one event only: hold later polls until the test ends
			<-r.Context().Done()
			return
		default:
			close(rt.served)
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:fleetcron")
		_, _ = w.Write(rt.event)
	case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/response"):
		b, _ := io.ReadAll(r.Body)
		rt.answer <- "response: " + string(b)
		w.WriteHeader(http.StatusAccepted)
	case r.Method == "POST" && (strings.HasSuffix(r.URL.Path, "/error") || strings.HasSuffix(r.URL.Path, "/init/error")):
		b, _ := io.ReadAll(r.Body)
		rt.answer <- "error: " + string(b)
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// The built bootstrap binaries (as `make build` builds them, for this
// machine's architecture) answer the sample events of events/testdata when
// run against a loopback Lambda Runtime API and the emulators.
func TestBootstrapsAnswerSampleEvents(t *testing.T) {
	d := deploy(t)
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(emulator.Config(d.endpoint))
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("fleetcron/admin-token"),
		SecretString: aws.String(adminToken)}); err != nil {
		t.Fatal(err)
	}
	queues, _ := json.Marshal(d.cfg.Queues)
	bin := t.TempDir()
	cases := []struct {
		function, sample, want string
	}{
		{"api", "apigw-v2-create-job.json", `"statusCode":201`},
		{"fire", "fire.json", "response: null"},
		{"sweeper", "sqs-dead-letter.json", `"batchItemFailures":null`},
	}
	for _, c := range cases {
		t.Run(c.function, func(t *testing.T) {
			exe := filepath.Join(bin, c.function, "bootstrap")
			build := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", exe,
				"github.com/fleetcron/fleetcron/functions/"+c.function)
			build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			event, err := os.ReadFile(filepath.Join("..", "..", "events", "testdata", c.sample))
			if err != nil {
				t.Fatal(err)
			}
			rt := &runtimeAPI{event: event, served: make(chan struct{}), answer: make(chan string, 1)}
			srv := httptest.NewServer(rt)
			defer srv.Close()
			cmd := exec.Command(exe)
			cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(srv.URL, "http://"),
				"AWS_LAMBDA_FUNCTION_NAME=fleetcron-" + c.function, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "_HANDLER=bootstrap",
				"AWS_ENDPOINT_URL=" + d.endpoint, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
				"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
				awsapp.EnvTable + "=" + d.cfg.Table, awsapp.EnvBucket + "=" + d.cfg.Bucket, awsapp.EnvQueues + "=" + string(queues),
				awsapp.EnvScheduleGroup + "=" + d.cfg.ScheduleGroup, awsapp.EnvFireARN + "=" + d.cfg.FireARN,
				awsapp.EnvSchedulerRoleARN + "=" + d.cfg.SchedulerRoleARN, awsapp.EnvAdminTokenSecret + "=fleetcron/admin-token"}
			out := &strings.Builder{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			select {
			case a := <-rt.answer:
				if !strings.Contains(a, c.want) {
					t.Fatalf("%s answered %s; want %s\nlog:\n%s", c.function, a, c.want, out)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s did not answer\nlog:\n%s", c.function, out)
			}
		})
	}
}
