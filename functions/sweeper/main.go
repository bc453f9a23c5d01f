// Command sweeper is fleetcron's sweeper Lambda: dead-lettered run messages end
// lost, fires Scheduler could not deliver are recorded, and a periodic sweep
// re-sends unsent runs and ends runs whose attempts ran out.
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
		fmt.Fprintln(os.Stderr, "fleetcron sweeper:", err)
		os.Exit(1)
	}
	lambda.StartWithOptions(app.HandleSweep, lambda.WithEnableSIGTERM(func() { log.Info("sweeper function shutting down") }))
}
