package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	awsevents "github.com/aws/aws-lambda-go/events"
)

// roundTrip unmarshals a golden sample into v, marshals it back and compares
// the JSON, so a renamed or dropped field fails.
func roundTrip(t *testing.T, file string, v any) {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(in, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("%s: round trip changed the JSON\n in: %s\nout: %s", file, in, out)
	}
}

func TestFireRoundTrip(t *testing.T) {
	var f Fire
	roundTrip(t, "fire.json", &f)
	at, err := f.Time()
	if err != nil || at.Unix() != 1795341900 {
		t.Fatalf("Time() = %v, %v", at, err)
	}
}

func TestRunMessageRoundTrip(t *testing.T) {
	roundTrip(t, "run-message.json", &RunMessage{})
}

func TestFireTimeRejectsGarbage(t *testing.T) {
	if _, err := (Fire{JobID: "x", ScheduledTime: "<aws.scheduler.scheduled-time>"}).Time(); err == nil {
		t.Fatal("an unrendered placeholder parsed as a time")
	}
}

func ExampleFireTemplate() {
	fmt.Println(FireTemplate("k3vq7dd2m4hpl0aaaaaa", "a"))
	// Output: {"job_id":"k3vq7dd2m4hpl0aaaaaa","scheduled_time":"<aws.scheduler.scheduled-time>","schedule":"a","execution_id":"<aws.scheduler.execution-id>"}
}

// AWS's own payloads use aws-lambda-go's types; the samples the functions'
// tests replay must decode into them without loss.
func TestAWSSamplesRoundTrip(t *testing.T) {
	var req awsevents.APIGatewayV2HTTPRequest
	roundTrip(t, "apigw-v2-create-job.json", &req)
	if req.RequestContext.HTTP.Method != "POST" || req.RawPath != "/jobs" {
		t.Fatalf("decoded %+v", req.RequestContext.HTTP)
	}
	var sqs awsevents.SQSEvent
	roundTrip(t, "sqs-dead-letter.json", &sqs)
	var m RunMessage
	if err := json.Unmarshal([]byte(sqs.Records[0].Body), &m); err != nil || m.RunID == "" {
		t.Fatalf("dead-lettered body: %v %+v", err, m)
	}
}
