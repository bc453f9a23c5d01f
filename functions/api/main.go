// Command api is fleetcron's API Lambda: API Gateway HTTP API (payload 2.0)
// events served by the same HTTP handler as the dev server.
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
		fmt.Fprintln(os.Stderr, "fleetcron api:", err)
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
	if id := os.Getenv(awsapp.EnvAdminTokenSecret); id != "" {
		if c.AdminToken, err = awsapp.SecretString(ctx, cfg, id); err != nil {
			return err
		}
	}
	app, err := awsapp.New(ctx, cfg, c, log)
	if err != nil {
		return err
	}
	lambda.StartWithOptions(app.HandleAPI, lambda.WithEnableSIGTERM(func() { log.Info("api function shutting down") }))
	return nil
}
