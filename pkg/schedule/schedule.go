package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"
)

// Error is a validation problem with a schedule or its time zone.
type Error struct {
	Field  string // "schedule" or "timezone"
	Reason string // what is wrong, naming the bad crontab field if there is one
	Err    error  // the underlying error, if any
}

func (e *Error) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

func scheduleErr(format string, args ...any) *Error {
	return &Error{Field: "schedule", Reason: fmt.Sprintf(format, args...)}
}

// Spec is a parsed, validated schedule.
type Spec struct {
	expr  string
	loc   *time.Location
	spec  *cron.SpecSchedule // crontab and descriptors; nil for @every
	every time.Duration      // @every
}

// MaxEvery is the longest @every interval accepted.
const MaxEvery = 366 * 24 * time.Hour

const (
	starBit = 1 << 63
	// horizonDays is how far Next looks. A satisfiable schedule fires at
	// least every 8 years (February 29th across a skipped leap year).
	horizonDays = 9*366 + 31
	// maxTimeZoneLen is EventBridge Scheduler's ScheduleExpressionTimezone limit.
	maxTimeZoneLen = 50
	// maxOffset bounds any UTC offset in the zone database (local mean
	// times of the 19th century reach about ±15h56m).
	maxOffset = 16 * time.Hour
)

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// field describes one crontab field as robfig parses it.
type field struct {
	name   string
	lo, hi int
	names  map[string]int
	hint   string // appended to range errors
}

var fields = [5]field{
	{name: "minute", lo: 0, hi: 59},
	{name: "hour", lo: 0, hi: 23},
	{name: "day-of-month", lo: 1, hi: 31},
	{name: "month", lo: 1, hi: 12, names: map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}},
	{name: "day-of-week", lo: 0, hi: 6, hint: " (Sunday is 0 or SUN)", names: map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}},
}

// LoadLocation resolves a time zone name; "" is UTC. "Local" is refused: a
// schedule must mean the same instants on every machine. So are names not
// shaped like IANA names and the system zone files that are no IANA zone
// ("localtime", "posixrules", "Factory", "posix/…", "right/…"; see zoneName).
// The package embeds the zone database (time/tzdata) for machines without
// one, such as the provided.al2023 Lambda runtime.
func LoadLocation(tz string) (*time.Location, error) {
	switch tz {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, &Error{Field: "timezone", Reason: `"Local" is not allowed: name an IANA time zone such as "Europe/Berlin"`}
	}
	if len(tz) > maxTimeZoneLen || !zoneName(tz) {
		return nil, &Error{Field: "timezone", Reason: fmt.Sprintf("unknown time zone %q", tz)}
	}
	if loc, ok := zones.Load(tz); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, &Error{Field: "timezone", Reason: fmt.Sprintf("unknown time zone %q", tz),
			Err: fmt.Errorf("load time zone %q: %w", tz, err)}
	}
	actual, _ := zones.LoadOrStore(tz, loc)
	return actual.(*time.Location), nil
}

// zones holds each zone loaded once (a Location is immutable): every job's
// schedule in a zone shares it, instead of a copy of the zone's transitions
// each (several KB apiece). It holds only names that loaded, so at most the
// zone database.
var zones sync.Map // name → *time.Location

// zoneName reports whether tz is shaped like an IANA time zone name
// ("Europe/Berlin", "America/Argentina/ComodRivadavia", "Etc/GMT+5",
// "EST5EDT"): components of ASCII letters, digits, "_", "-" and "+" joined
// by single slashes, starting with a letter. It also refuses the files of
// the system zone directory that are not zones of the IANA database —
// "localtime" (the machine's own zone: "Local" under another name),
// "posixrules" (a copy of some zone, host-dependent), "Factory", and the
// "posix/" and "right/" trees (duplicates; right/ counts leap seconds) —
// so that the names accepted do not depend on the machine, and are names
// EventBridge Scheduler knows.
func zoneName(tz string) bool {
	switch first, _, _ := strings.Cut(tz, "/"); first {
	case "localtime", "posixrules", "Factory", "posix", "right":
		return false
	}
	for _, part := range strings.Split(tz, "/") {
		if part == "" || strings.TrimLeft(part, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+") != "" {
			return false
		}
	}
	c := tz[0]
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// Parse validates a schedule expression in an IANA time zone ("" is UTC).
// Every problem is returned as an *Error; a bad schedule is reported before
// a bad time zone.
func Parse(expr, timezone string) (*Spec, error) {
	s, err := parse(strings.TrimSpace(expr))
	if err != nil {
		return nil, err
	}
	loc, err := LoadLocation(timezone)
	if err != nil {
		return nil, err
	}
	s.loc = loc
	if s.spec != nil {
		s.spec.Location = loc
	}
	return s, nil
}

func parse(expr string) (*Spec, error) {
	if expr == "" {
		return nil, scheduleErr("must not be empty")
	}
	if strings.HasPrefix(expr, "CRON_TZ=") || strings.HasPrefix(expr, "TZ=") {
		return nil, scheduleErr("time zone prefixes (CRON_TZ=, TZ=) are not supported: set the time zone separately")
	}
	if strings.HasPrefix(expr, "@") {
		return parseDescriptor(expr)
	}
	parts := strings.Fields(expr)
	if len(parts) != len(fields) {
		return nil, scheduleErr("expected 5 fields (minute hour day-of-month month day-of-week), got %d", len(parts))
	}
	for i, p := range parts {
		if reason := checkField(p, fields[i]); reason != "" {
			return nil, scheduleErr("field %d (%s) %q: %s", i+1, fields[i].name, p, reason)
		}
	}
	sched, err := parser.Parse(strings.Join(parts, " "))
	if err != nil {
		// checkField accepts a subset of what robfig does; this is a backstop.
		return nil, &Error{Field: "schedule", Reason: fmt.Sprintf("%q: %v", expr, err), Err: err}
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, scheduleErr("%q: unsupported schedule", expr)
	}
	if !satisfiable(spec) {
		return nil, scheduleErr("%q never fires: no date has that day-of-month in those months", expr)
	}
	return &Spec{expr: expr, spec: spec}, nil
}

// checkField validates one crontab field with the grammar robfig accepts,
// minus its quirks (empty list items, "*-5", "+5"), and explains the first
// problem, or returns "".
func checkField(s string, f field) string {
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			return "empty item in a list"
		}
		rng, stepText, hasStep := strings.Cut(item, "/")
		if hasStep {
			if strings.Contains(stepText, "/") {
				return fmt.Sprintf("%q: more than one /", item)
			}
			step, ok := number(stepText)
			switch {
			case !ok:
				return fmt.Sprintf("step %q is not a number", stepText)
			case step < 1:
				return fmt.Sprintf("step %d must be at least 1", step)
			}
		}
		if rng == "*" || rng == "?" {
			continue
		}
		first, last, isRange := strings.Cut(rng, "-")
		if isRange && strings.Contains(last, "-") {
			return fmt.Sprintf("%q: more than one -", item)
		}
		a, reason := f.value(first)
		if reason != "" {
			return reason
		}
		if !isRange {
			continue
		}
		b, reason := f.value(last)
		if reason != "" {
			return reason
		}
		if a > b {
			return fmt.Sprintf("range %s: start %d is after end %d", rng, a, b)
		}
	}
	return ""
}

// value parses one number or name of field f and checks its bounds.
func (f field) value(s string) (int, string) {
	if v, ok := f.names[strings.ToLower(s)]; ok {
		return v, ""
	}
	v, ok := number(s)
	switch {
	case s == "":
		return 0, "missing value"
	case s == "*" || s == "?":
		return 0, fmt.Sprintf("%s cannot be part of a range", s)
	case !ok && f.names != nil:
		return 0, fmt.Sprintf("%q is not a number (%d-%d) or a %s name", s, f.lo, f.hi, f.name)
	case !ok:
		return 0, fmt.Sprintf("%q is not a number (%d-%d)", s, f.lo, f.hi)
	case v < f.lo:
		return 0, fmt.Sprintf("value %d below minimum %d", v, f.lo)
	case v > f.hi:
		return 0, fmt.Sprintf("value %d above maximum %d%s", v, f.hi, f.hint)
	}
	return v, ""
}

// number parses a decimal number of ASCII digits (no sign).
func number(s string) (int, bool) {
	if s == "" || len(s) > 9 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	return v, err == nil
}

// daysIn is the most days each month can have (February 29 in leap years).
var daysIn = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// satisfiable reports whether some date matches the day fields. With either
// day field a star robfig ANDs them, and the other is then a full set (every
// weekday occurs on every month-day over the years), so a month with one of
// the days is enough; otherwise they are ORed and any weekday matches.
func satisfiable(s *cron.SpecSchedule) bool {
	if s.Month == 0 || s.Dow&^uint64(starBit) == 0 {
		return false
	}
	if s.Dom&starBit == 0 && s.Dow&starBit == 0 {
		return true
	}
	for m := 1; m <= 12; m++ {
		for d := 1; d <= daysIn[m]; d++ {
			if s.Month&(1<<m) != 0 && s.Dom&(1<<d) != 0 {
				return true
			}
		}
	}
	return false
}

func parseDescriptor(expr string) (*Spec, error) {
	name, arg := expr, ""
	if i := strings.IndexFunc(expr, unicode.IsSpace); i >= 0 {
		name, arg = expr[:i], strings.TrimSpace(expr[i:])
	}
	switch name {
	case "@every":
		if arg == "" {
			return nil, scheduleErr(`@every needs a duration, e.g. "@every 15m"`)
		}
		d, err := time.ParseDuration(arg)
		switch {
		case err != nil:
			return nil, &Error{Field: "schedule", Reason: fmt.Sprintf("@every %q: not a duration (e.g. 15m, 2h)", arg),
				Err: fmt.Errorf("parse @every duration: %w", err)}
		case d < time.Minute:
			return nil, scheduleErr("@every %s: must be at least 1m", arg)
		case d%time.Minute != 0:
			return nil, scheduleErr("@every %s: must be whole minutes", arg)
		case d > MaxEvery:
			return nil, scheduleErr("@every %s: must be at most %s (366 days)", arg, MaxEvery)
		}
		return &Spec{expr: expr, every: d}, nil
	case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
		if arg != "" {
			return nil, scheduleErr("%s takes no argument", name)
		}
		sched, err := parser.Parse(name)
		if err != nil {
			return nil, &Error{Field: "schedule", Reason: fmt.Sprintf("%s: %v", name, err), Err: err}
		}
		return &Spec{expr: expr, spec: sched.(*cron.SpecSchedule)}, nil
	}
	return nil, scheduleErr("unknown descriptor %q: want @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually or @every <duration>", name)
}

// Expr returns the expression as given (trimmed).
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
// if there is none. An @every schedule fires its interval after `after`
// (truncated to the second, as robfig does).
//
// Crontab schedules are matched against the local wall clock of the
// schedule's time zone with EventBridge Scheduler's daylight-saving rules: a
// local time that does not exist (spring forward) is skipped, and a local
// time that occurs twice (fall back) fires once, at its first occurrence.
// robfig's own Next differs (see the package documentation); its parsed
// fields are used, its walk is not.
func (s *Spec) Next(after time.Time) time.Time {
	if s.every > 0 {
		return after.Truncate(time.Second).Add(s.every)
	}
	if s.spec == nil {
		return time.Time{}
	}
	loc := s.Location()
	local := after.In(loc)
	// Walk civil dates in UTC, where every date exists and lasts a day.
	y, m, d := local.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	h, mi := local.Hour(), local.Minute()+1
	for range horizonDays {
		y, m, d := day.Date()
		switch {
		case s.spec.Month&(1<<uint(m)) == 0:
			day, h, mi = time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC), 0, 0
			continue
		case !s.dayMatches(d, day.Weekday()):
			day, h, mi = day.AddDate(0, 0, 1), 0, 0
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
		day, h, mi = day.AddDate(0, 0, 1), 0, 0
	}
	return time.Time{}
}

// dayMatches is robfig's rule: day-of-month and day-of-week are ANDed when
// either has the star bit, ORed otherwise (Vixie cron).
func (s *Spec) dayMatches(dom int, dow time.Weekday) bool {
	domMatch := s.spec.Dom&(1<<uint(dom)) != 0
	dowMatch := s.spec.Dow&(1<<uint(dow)) != 0
	if s.spec.Dom&starBit != 0 || s.spec.Dow&starBit != 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

// wallInstant returns the first instant whose wall clock in loc reads
// y-m-d h:mi, or false if no instant does (a spring-forward gap, or a date
// the zone skipped).
func wallInstant(y int, m time.Month, d, h, mi int, loc *time.Location) (time.Time, bool) {
	naive := time.Date(y, m, d, h, mi, 0, 0, time.UTC)
	if loc == time.UTC {
		return naive, true
	}
	// An instant reading naive on the wall clock lies within maxOffset of
	// it; try the UTC offset of every zone period in that window.
	var first time.Time
	for t, end := naive.Add(-maxOffset), naive.Add(maxOffset); t.Before(end); {
		local := t.In(loc)
		_, off := local.Zone()
		at := naive.Add(-time.Duration(off) * time.Second).In(loc)
		ay, am, ad := at.Date()
		if ay == y && am == m && ad == d && at.Hour() == h && at.Minute() == mi &&
			(first.IsZero() || at.Before(first)) {
			first = at
		}
		_, next := local.ZoneBounds()
		if !next.After(t) {
			break // the zone's last period
		}
		t = next
	}
	return first, !first.IsZero()
}
