package schedule

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	"5 * * * *", "*/15 * * * *", "0 0 1 * MON", "0 0 */2 * MON", "@every 90m", "@daily",
	"0 0 30 2 *", "61 * * * *", "CRON_TZ=UTC 5 * * * *", "@every 90s", "1-5/0 * * * *",
	"0 0 ? * ?", "* * * * * *", "0 9-17 * JAN-MAR MON-FRI", "@every -5m", "0,59 0,23 1,31 1,12 0,6",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, "")
		f.Add(s, "America/New_York")
	}
	from := time.Date(2026, 3, 8, 6, 59, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr, tz string) {
		s, err := Parse(expr, tz)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Field != "schedule" && e.Field != "timezone") || e.Reason == "" {
				t.Fatalf("Parse(%q, %q): error %v is not a schedule.Error with field and reason", expr, tz, err)
			}
			return
		}
		next := s.Next(from)
		if next.IsZero() && s.Every() == 0 {
			// Accepted schedules fire within five years of now; from is
			// earlier than now, so a yearly one may be further: check from now.
			if s.Next(time.Now()).IsZero() {
				t.Fatalf("%q accepted but never fires", expr)
			}
		} else if !next.After(from) {
			t.Fatalf("%q: Next(%v) = %v, not after", expr, from, next)
		}
		if _, err := s.EventBridge(); err != nil {
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(e.Reason, "limit") {
				t.Fatalf("%q: accepted but EventBridge() = %v", expr, err)
			}
		}
	})
}

var (
	cronRe = regexp.MustCompile(`^cron\((\S+) (\S+) (\S+) (\S+) (\S+) \*\)$`)
	rateRe = regexp.MustCompile(`^rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)$`)
)

func FuzzToEventBridge(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		out, err := ToEventBridge(expr, "Europe/Berlin")
		if err != nil {
			return
		}
		if len(out) < 1 || len(out) > 2 {
			t.Fatalf("%q: %d expressions", expr, len(out))
		}
		for _, e := range out {
			if m := rateRe.FindStringSubmatch(e.Expression); m != nil {
				if e.TimeZone != "" || len(out) != 1 {
					t.Fatalf("%q: bad rate output %+v", expr, out)
				}
				singular := m[1] == "1"
				if singular == strings.HasSuffix(m[2], "s") {
					t.Fatalf("%q: %q: unit number disagrees", expr, e.Expression)
				}
				continue
			}
			m := cronRe.FindStringSubmatch(e.Expression)
			if m == nil {
				t.Fatalf("%q: malformed %q", expr, e.Expression)
			}
			if (m[3] == "?") == (m[5] == "?") {
				t.Fatalf("%q: %q: exactly one of day-of-month and day-of-week must be ?", expr, e.Expression)
			}
			if strings.Contains(m[5], "/") {
				t.Fatalf("%q: %q: EventBridge has no / in day-of-week", expr, e.Expression)
			}
			if len(e.Expression) > MaxExpressionLen || e.TimeZone != "Europe/Berlin" {
				t.Fatalf("%q: %+v", expr, e)
			}
			if _, err := parseAWSCron(e.Expression); err != nil {
				t.Fatalf("%q: AWS evaluator refuses %q: %v", expr, e.Expression, err)
			}
		}
	})
}

func ExampleToEventBridge() {
	exprs, _ := ToEventBridge("0 0 1 * MON", "Europe/Berlin")
	for _, e := range exprs {
		fmt.Println(e.Expression, e.TimeZone)
	}
	// Output:
	// cron(0 0 1 * ? *) Europe/Berlin
	// cron(0 0 ? * 2 *) Europe/Berlin
}
