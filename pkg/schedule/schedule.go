package schedule

import (
	"fmt"
	"slices"
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
		if slices.Contains(strings.Split(f, ","), "") {
			return nil, scheduleErr("field %d (%s) %q: empty item in a list", i+1, fieldNames[i], f)
		}
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
//
// Crontab schedules are evaluated on the local wall clock of the schedule's
// zone, with EventBridge Scheduler's daylight-saving rules: a local time that
// does not exist is skipped, and one that occurs twice fires once, at its
// first occurrence. (robfig's own Next repeats fall-back times and, in zones
// that shift by 30 minutes, can skip a whole day; its parsed fields are used,
// its walk is not.)
func (s *Spec) Next(after time.Time) time.Time {
	if s.every > 0 {
		return after.Truncate(time.Second).Add(s.every)
	}
	loc := s.Location()
	local := after.In(loc)
	y, m, d := local.Date()
	h, mi := local.Hour(), local.Minute()+1
	day := time.Date(y, m, d, 12, 0, 0, 0, loc) // noon: safe from DST when stepping days
	limit := day.Add(horizon)
	for ; day.Before(limit); day, h, mi = day.AddDate(0, 0, 1), 0, 0 {
		y, m, d := day.Date()
		if s.spec.Month&(1<<uint(m)) == 0 {
			// Jump to the 1st of the next month (the loop adds a day).
			day = time.Date(y, m+1, 0, 12, 0, 0, 0, loc)
			continue
		}
		if !s.dayMatches(d, day.Weekday()) {
			continue
		}
		for ; h < 24; h, mi = h+1, 0 {
			if s.spec.Hour&(1<<uint(h)) == 0 {
				continue
			}
			for ; mi < 60; mi++ {
				if s.spec.Minute&(1<<uint(mi)) == 0 {
					continue
				}
				if at, ok := wallInstant(y, m, d, h, mi, loc); ok && at.After(after) {
					return at
				}
			}
		}
	}
	return time.Time{}
}

// dayMatches is robfig's rule: day-of-month and day-of-week are ANDed when
// either is a star, ORed when both are restricted (Vixie cron).
func (s *Spec) dayMatches(dom int, dow time.Weekday) bool {
	domMatch := s.spec.Dom&(1<<uint(dom)) != 0
	dowMatch := s.spec.Dow&(1<<uint(dow)) != 0
	if s.spec.Dom&starBit != 0 || s.spec.Dow&starBit != 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

// wallInstant returns the first instant whose wall clock in loc reads
// y-m-d h:mi, or false if that local time does not exist.
func wallInstant(y int, m time.Month, d, h, mi int, loc *time.Location) (time.Time, bool) {
	t := time.Date(y, m, d, h, mi, 0, 0, loc)
	if !sameWall(t, y, m, d, h, mi) {
		return time.Time{}, false // skipped by a spring-forward
	}
	best := t
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		if u := t.Add(-back); sameWall(u, y, m, d, h, mi) {
			best = u // the first pass of a fall-back
		}
	}
	return best, true
}

func sameWall(t time.Time, y int, m time.Month, d, h, mi int) bool {
	ty, tm, td := t.Date()
	return ty == y && tm == m && td == d && t.Hour() == h && t.Minute() == mi
}
