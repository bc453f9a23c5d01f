// Command fire is fleetcron's fire Lambda: EventBridge Scheduler hands it a
// job's Input (job id, scheduled time); it takes the run lock and enqueues.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fleetcron/fleetcron/pkg/awsapp"
)

func main() {
	app, log, err := awsapp.Boot(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetcron fire:", err)
		os.Exit(1)
	}
	lambda.StartWithOptions(app.HandleFire, lambda.WithEnableSIGTERM(func() { log.Info("fire function shutting down") }))
}
