//go:build !unix

package runner

import (
	"context"
	"errors"
	"fmt"
)

// Run is not implemented on this platform: fleetcron runs jobs on Unix.
func Run(ctx context.Context, spec Spec) (Result, error) {
	return Result{ExitCode: -1}, fmt.Errorf("run %s job: %w", spec.Type, errors.ErrUnsupported)
}
