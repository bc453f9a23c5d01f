package fleetcron

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Adapters and services wrap them with context; the HTTP layer
// maps them to status codes with errors.Is in one place.
var (
	// ErrNotFound: the job, run, token or object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a conditional write lost (the record exists, or changed).
	ErrConflict = errors.New("conflict")
	// ErrFenced: a lease operation by an owner/attempt that no longer holds the run.
	ErrFenced = errors.New("lease lost")
	// ErrForbidden: the caller may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthorized: no or bad credentials.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrHashMismatch: a blob's content does not match its sha256.
	ErrHashMismatch = errors.New("sha256 mismatch")
	// ErrInvalid: bad input; see *ValidationError for the fields.
	ErrInvalid = errors.New("invalid input")
)

// FieldError is one problem with one field of an input.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e FieldError) String() string { return e.Field + ": " + e.Reason }

// ValidationError lists every problem found in an input. It matches ErrInvalid
// with errors.Is.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Add records a problem.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Problems = append(e.Problems, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// Err returns e if it holds problems, else nil.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Invalid returns a ValidationError with one problem.
func Invalid(field, format string, args ...any) error {
	v := &ValidationError{}
	v.Add(field, format, args...)
	return v
}
