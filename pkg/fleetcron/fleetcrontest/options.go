package fleetcrontest

import "testing"

// Option adjusts a suite to a backend.
type Option func(*suiteOptions)

type suiteOptions struct {
	noAtomicity string
}

// WithoutAtomicity leaves out the cases that race concurrent conditional
// writes against each other, saying why (moto's DynamoDB does not serialize
// conditional writes, AWS's does). Those cases must run on another backend
// of the same adapter: the DynamoDB store runs them on DynamoDB Local.
func WithoutAtomicity(why string) Option {
	return func(o *suiteOptions) { o.noAtomicity = why }
}

func options(opts []Option) suiteOptions {
	var o suiteOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// concurrent runs a case that needs atomic conditional writes, unless the
// backend has none; then it says so in the log instead of running it.
func (o suiteOptions) concurrent(t *testing.T, name string, body func(t *testing.T)) {
	t.Helper()
	if o.noAtomicity != "" {
		t.Logf("%s: left out on this backend: %s", name, o.noAtomicity)
		return
	}
	t.Run(name, body)
}
