// Command fire is fleetcron's fire Lambda: EventBridge Scheduler hands it a
// job's Input (job id, scheduled time); it takes the run lock and enqueues.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fleetcron/fleetcron/pkg/awsapp"
	"github.com/fleetcron/fleetcron/pkg/awsclient"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fleetcron fire:", err)
		os.Exit(1)
	}
}

func run() error {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx := context.Background()
	c, err := awsapp.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	cfg, err := awsclient.Load(ctx)
	if err != nil {
		return err
	}
	app, err := awsapp.New(ctx, cfg, c, log)
	if err != nil {
		return err
	}
	lambda.StartWithOptions(app.HandleFire, lambda.WithEnableSIGTERM(func() { log.Info("fire function shutting down") }))
	return nil
}
