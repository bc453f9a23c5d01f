package schedule

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Error is a problem with a schedule or its time zone.
type Error struct {
	Field  string // "schedule" or "timezone"
	Reason string
}

func (e *Error) Error() string { return e.Field + ": " + e.Reason }

func scheduleErr(format string, args ...any) error {
	return &Error{Field: "schedule", Reason: fmt.Sprintf(format, args...)}
}

// Spec is a parsed, validated schedule.
type Spec struct {
	expr  string
	loc   *time.Location
	spec  *cron.SpecSchedule // crontab and descriptors
	every time.Duration      // @every
}

var (
	parser     = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	fieldNames = [5]string{"minute", "hour", "day-of-month", "month", "day-of-week"}
	// horizon is how far Parse looks for a first fire time.
	horizon = 5 * 366 * 24 * time.Hour
)

const starBit = 1 << 63

// LoadLocation resolves a time zone name; "" is UTC. "Local" is refused: a
// schedule must mean the same instant on every machine.
func LoadLocation(tz string) (*time.Location, error) {
	switch tz {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, &Error{Field: "timezone", Reason: `"Local" is not allowed: name an IANA time zone such as "Europe/Berlin"`}
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || strings.ContainsAny(tz, " \t") {
		return nil, &Error{Field: "timezone", Reason: fmt.Sprintf("unknown time zone %q: want an IANA name such as \"America/New_York\"", tz)}
	}
	return loc, nil
}

// Parse validates expr in time zone tz ("" is UTC). Problems are *Error.
func Parse(expr, tz string) (*Spec, error) {
	loc, lerr := LoadLocation(tz)
	s, err := parse(strings.TrimSpace(expr))
	if err != nil {
		return nil, err // the schedule's problem first; the zone's comes after it is fixed
	}
	if lerr != nil {
		return nil, lerr
	}
	s.loc = loc
	if s.spec != nil {
		s.spec.Location = loc
		if s.Next(time.Now()).IsZero() {
			return nil, scheduleErr("%q never fires (no date matches its day-of-month, month and day-of-week)", expr)
		}
	}
	return s, nil
}

func parse(expr string) (*Spec, error) {
	if expr == "" {
		return nil, scheduleErr("must not be empty")
	}
	if strings.HasPrefix(expr, "CRON_TZ=") || strings.HasPrefix(expr, "TZ=") {
		return nil, scheduleErr("time zone prefixes are not supported: put the zone in the timezone field")
	}
	if strings.HasPrefix(expr, "@") {
		return parseDescriptor(expr)
	}
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return nil, scheduleErr("expected 5 fields (minute hour day-of-month month day-of-week), got %d", len(fields))
	}
	// Find the bad field: robfig's messages do not name it.
	for i, f := range fields {
		probe := []string{"*", "*", "*", "*", "*"}
		probe[i] = f
		if _, err := parser.Parse(strings.Join(probe, " ")); err != nil {
			return nil, scheduleErr("field %d (%s) %q: %s", i+1, fieldNames[i], f, err.Error())
		}
	}
	sched, err := parser.Parse(strings.Join(fields, " "))
	if err != nil {
		return nil, scheduleErr("%q: %s", expr, err.Error())
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, scheduleErr("%q: unsupported schedule", expr)
	}
	return &Spec{expr: expr, spec: spec}, nil
}

func parseDescriptor(expr string) (*Spec, error) {
	name, arg, _ := strings.Cut(expr, " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "@every":
		d, err := time.ParseDuration(arg)
		switch {
		case arg == "":
			return nil, scheduleErr("@every needs a duration, e.g. \"@every 15m\"")
		case err != nil:
			return nil, scheduleErr("@every %q: not a duration (e.g. 15m, 2h)", arg)
		case d < time.Minute:
			return nil, scheduleErr("@every %s: must be at least 1m", arg)
		case d%time.Minute != 0:
			return nil, scheduleErr("@every %s: must be whole minutes", arg)
		case d > 366*24*time.Hour:
			return nil, scheduleErr("@every %s: must be at most 8784h (a year)", arg)
		}
		return &Spec{expr: expr, every: d}, nil
	case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
		if arg != "" {
			return nil, scheduleErr("%s takes no argument", name)
		}
		sched, err := parser.Parse(name)
		if err != nil {
			return nil, scheduleErr("%s: %s", name, err.Error())
		}
		return &Spec{expr: expr, spec: sched.(*cron.SpecSchedule)}, nil
	}
	return nil, scheduleErr("unknown descriptor %q: want @hourly, @daily, @weekly, @monthly, @yearly or @every <duration>", name)
}

// Expr returns the expression as given.
func (s *Spec) Expr() string { return s.expr }

// Every returns the interval of an @every schedule, else 0.
func (s *Spec) Every() time.Duration { return s.every }

// Location returns the schedule's time zone.
func (s *Spec) Location() *time.Location {
	if s.loc == nil {
		return time.UTC
	}
	return s.loc
}

// Next returns the first fire time strictly after `after`, or the zero time
// if there is none within five years. @every schedules count from `after`.
// A local wall-clock time that a fall-back repeats fires only the first time.
func (s *Spec) Next(after time.Time) time.Time {
	if s.every > 0 {
		return after.Truncate(time.Second).Add(s.every)
	}
	t := after
	limit := after.Add(horizon)
	for {
		t = s.spec.Next(t)
		if t.IsZero() || t.After(limit) {
			return time.Time{}
		}
		if !repeatedWallClock(t.In(s.Location())) {
			return t
		}
	}
}

// repeatedWallClock reports whether the wall-clock minute of t already
// happened earlier (t is in the second pass of a fall-back).
func repeatedWallClock(t time.Time) bool {
	_, off := t.Zone()
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		u := t.Add(-back)
		if _, uoff := u.Zone(); uoff == off {
			continue
		}
		if sameWall(u, t) {
			return true
		}
	}
	return false
}

func sameWall(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd && a.Hour() == b.Hour() && a.Minute() == b.Minute()
}
