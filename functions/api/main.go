// Command api is fleetcron's API Lambda: API Gateway HTTP API (payload 2.0)
// events served by the same HTTP handler as the dev server.
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
		fmt.Fprintln(os.Stderr, "fleetcron api:", err)
		os.Exit(1)
	}
	lambda.StartWithOptions(app.HandleAPI, lambda.WithEnableSIGTERM(func() { log.Info("api function shutting down") }))
}
