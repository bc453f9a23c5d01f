package schedule

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	"5 * * * *", "*/15 * * * *", "0 0 1 * MON", "0 0 */2 * MON", "@every 90m", "@daily", "@every 1h30m",
	"0 0 30 2 *", "0 0 29 2 *", "61 * * * *", "CRON_TZ=UTC 5 * * * *", "@every 90s", "1-5/0 * * * *",
	"0 0 ? * ?", "* * * * * *", "0 9-17 * JAN-MAR MON-FRI", "@every -5m", "0,59 0,23 1,31 1,12 0,6",
	"*-5 * * * *", "0 0 , 1 0", "0 0 * * 7", "5/15 */6 1-31/2 */5 */2",
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
			if !errors.As(err, &e) || (e.Field != "schedule" && e.Field != "timezone") || e.Reason == "" ||
				err.Error() != e.Field+": "+e.Reason {
				t.Fatalf("Parse(%q, %q): error %v is not a schedule.Error with field and reason", expr, tz, err)
			}
			return
		}
		next := s.Next(from)
		if next.IsZero() || !next.After(from) {
			t.Fatalf("%q in %q: Next(%v) = %v", expr, tz, from, next)
		}
		if s.Every() == 0 && (next.Second() != 0 || next.Nanosecond() != 0) {
			t.Fatalf("%q in %q: Next(%v) = %v, not on a minute", expr, tz, from, next)
		}
		if after := s.Next(next); !after.After(next) {
			t.Fatalf("%q in %q: Next(%v) = %v, not after", expr, tz, next, after)
		}
		if _, err := s.EventBridge(); err != nil {
			t.Fatalf("%q in %q: accepted but EventBridge() = %v", expr, tz, err)
		}
	})
}

var (
	cronRe = regexp.MustCompile(`^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$`)
	rateRe = regexp.MustCompile(`^rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)$`)
)

func FuzzToEventBridge(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	// Compare the first fires with the AWS evaluator, in UTC from this date.
	w := newWallClock(time.UTC, 2026)
	from := time.Date(2026, 2, 26, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr, "")
		out, err2 := ToEventBridge(expr, "")
		if (err == nil) != (err2 == nil) {
			t.Fatalf("%q: Parse error %v, ToEventBridge error %v", expr, err, err2)
		}
		if err != nil {
			return
		}
		if len(out) < 1 || len(out) > 2 {
			t.Fatalf("%q: %d expressions", expr, len(out))
		}
		for _, e := range out {
			if m := rateRe.FindStringSubmatch(e.Expression); m != nil {
				if e.TimeZone != "" || len(out) != 1 || s.Every() == 0 {
					t.Fatalf("%q: bad rate output %+v", expr, out)
				}
				if singular := m[1] == "1"; singular == strings.HasSuffix(m[2], "s") {
					t.Fatalf("%q: %q: number and unit disagree", expr, e.Expression)
				}
				continue
			}
			m := cronRe.FindStringSubmatch(e.Expression)
			switch {
			case m == nil:
				t.Fatalf("%q: malformed %q", expr, e.Expression)
			case (m[3] == "?") == (m[5] == "?"):
				t.Fatalf("%q: %q: exactly one of day-of-month and day-of-week must be ?", expr, e.Expression)
			case m[6] != "*":
				t.Fatalf("%q: %q: year must be *", expr, e.Expression)
			case len(e.Expression) > MaxExpressionLen || e.TimeZone != "UTC":
				t.Fatalf("%q: %+v", expr, e)
			}
			if _, err := parseAWSCron(e.Expression); err != nil {
				t.Fatalf("%q: AWS syntax refuses %q: %v", expr, e.Expression, err)
			}
		}
		if s.Every() > 0 {
			return
		}
		// The first fires from the date on agree with Spec.Next.
		want := awsFiresFrom(t, out, w, from, 20)
		var got []time.Time
		for at := s.Next(from.Add(-time.Nanosecond)); len(got) < len(want); at = s.Next(at) {
			got = append(got, at)
		}
		if diff := sameFires(got, want, time.UTC); diff != "" {
			t.Fatalf("%q → %v: %s", expr, out, diff)
		}
	})
}
