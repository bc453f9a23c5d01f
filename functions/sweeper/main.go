// Command sweeper is fleetcron's sweeper Lambda: dead-lettered run messages end lost,
// fires Scheduler could not deliver are recorded, and a periodic sweep
// re-sends unsent runs and ends runs whose attempts ran out.
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
		fmt.Fprintln(os.Stderr, "fleetcron sweeper:", err)
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
	lambda.StartWithOptions(app.HandleSweep, lambda.WithEnableSIGTERM(func() { log.Info("sweeper function shutting down") }))
	return nil
}
