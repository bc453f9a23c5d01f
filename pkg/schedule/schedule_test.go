package schedule

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestEventBridgeTable(t *testing.T) {
	cases := []struct {
		expr, tz string
		want     []string
	}{
		// Descriptors.
		{"@hourly", "", []string{"cron(0 * * * ? *)"}},
		{"@daily", "America/New_York", []string{"cron(0 0 * * ? *)"}},
		{"@midnight", "", []string{"cron(0 0 * * ? *)"}},
		{"@weekly", "", []string{"cron(0 0 ? * 1 *)"}},
		{"@monthly", "", []string{"cron(0 0 1 * ? *)"}},
		{"@yearly", "", []string{"cron(0 0 1 1 ? *)"}},
		{"@annually", "Asia/Tokyo", []string{"cron(0 0 1 1 ? *)"}},
		{"  @daily  ", "", []string{"cron(0 0 * * ? *)"}},
		// @every: the largest unit that divides, singular for 1.
		{"@every 1m", "", []string{"rate(1 minute)"}},
		{"@every 90m", "", []string{"rate(90 minutes)"}},
		{"@every 1h30m", "", []string{"rate(90 minutes)"}},
		{"@every 60m", "", []string{"rate(1 hour)"}},
		{"@every 2h", "", []string{"rate(2 hours)"}},
		{"@every 24h", "Europe/Berlin", []string{"rate(1 day)"}},
		{"@every 36h", "", []string{"rate(36 hours)"}},
		{"@every 72h", "", []string{"rate(3 days)"}},
		{"@every\t15m", "", []string{"rate(15 minutes)"}},
		// Fields, steps and ranges.
		{"5 * * * *", "", []string{"cron(5 * * * ? *)"}},
		{"*/15 * * * *", "", []string{"cron(0/15 * * * ? *)"}},
		{"*/1 * * * *", "", []string{"cron(* * * * ? *)"}},
		{"5/15 */6 * * *", "", []string{"cron(5/15 0/6 * * ? *)"}},
		{"5-20/5 * * * *", "", []string{"cron(5,10,15,20 * * * ? *)"}}, // a-b/n: not documented by AWS
		{"0-59/20 * * * *", "", []string{"cron(0/20 * * * ? *)"}},
		{"0,1,2,3,30,31 1-3,5,7-9 * * *", "", []string{"cron(0-3,30,31 1-3,5,7-9 * * ? *)"}},
		{"0 0,12 1,15 */3 *", "", []string{"cron(0 0,12 1,15 1/3 ? *)"}},
		{"30 2 1 JAN,jul *", "", []string{"cron(30 2 1 1,7 ? *)"}},
		{"0 0 * FEB-APR,Dec *", "", []string{"cron(0 0 * 2-4,12 ? *)"}},
		// Day-of-week: Unix 0=SUN, AWS 1=SUN; robfig refuses 7 (see the error table).
		{"0 0 * * 0", "", []string{"cron(0 0 ? * 1 *)"}},
		{"0 0 * * SUN,SAT", "", []string{"cron(0 0 ? * 1,7 *)"}},
		{"0 9-17 * * MON-FRI", "Europe/Berlin", []string{"cron(0 9-17 ? * 2-6 *)"}},
		{"0 0 * * */2", "", []string{"cron(0 0 ? * 1,3,5,7 *)"}}, // no "/" in AWS day-of-week
		{"0 0 * * 1-6/2", "", []string{"cron(0 0 ? * 2,4,6 *)"}},
		// Day-of-month and day-of-week: AND when either has robfig's star bit.
		{"0 0 * * *", "", []string{"cron(0 0 * * ? *)"}},
		{"0 0 ? * ?", "", []string{"cron(0 0 * * ? *)"}},
		{"0 0 ? * MON", "", []string{"cron(0 0 ? * 2 *)"}},
		{"0 12 15 * ?", "", []string{"cron(0 12 15 * ? *)"}},
		{"0 0 */1 * MON", "", []string{"cron(0 0 ? * 2 *)"}},
		{"0 0 *,1 * MON", "", []string{"cron(0 0 ? * 2 *)"}},
		{"0 0 * * 0-6", "", []string{"cron(0 0 * * ? *)"}},
		// ... and OR when both are restricted: two schedules.
		{"0 0 1 * MON", "", []string{"cron(0 0 1 * ? *)", "cron(0 0 ? * 2 *)"}},
		{"0 0 */2 * MON", "", []string{"cron(0 0 1/2 * ? *)", "cron(0 0 ? * 2 *)"}},
		{"15 8 1,15 * 1-5", "America/New_York", []string{"cron(15 8 1,15 * ? *)", "cron(15 8 ? * 2-6 *)"}},
		{"0 0 1-31 * MON", "", []string{"cron(0 0 * * ? *)"}}, // OR with every day is every day
		{"0 0 1 * 0-6", "", []string{"cron(0 0 * * ? *)"}},
	}
	for _, c := range cases {
		got, err := ToEventBridge(c.expr, c.tz)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		var exprs []string
		for _, e := range got {
			exprs = append(exprs, e.Expression)
			wantTZ := c.tz
			if wantTZ == "" {
				wantTZ = "UTC"
			}
			if strings.HasPrefix(e.Expression, "rate(") {
				wantTZ = ""
			}
			if e.TimeZone != wantTZ {
				t.Errorf("%q: time zone %q, want %q", c.expr, e.TimeZone, wantTZ)
			}
		}
		if !reflect.DeepEqual(exprs, c.want) {
			t.Errorf("%q → %q, want %q", c.expr, exprs, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ expr, tz, want string }{
		{"61 * * * *", "", `schedule: field 1 (minute) "61": value 61 above maximum 59`},
		{"0 25 * * *", "", `schedule: field 2 (hour) "25": value 25 above maximum 23`},
		{"0 1,25 * * *", "", `schedule: field 2 (hour) "1,25": value 25 above maximum 23`},
		{"0 0 0 * *", "", `schedule: field 3 (day-of-month) "0": value 0 below minimum 1`},
		{"0 0 1-32 * *", "", `schedule: field 3 (day-of-month) "1-32": value 32 above maximum 31`},
		{"0 0 * 13 *", "", `schedule: field 4 (month) "13": value 13 above maximum 12`},
		{"0 0 * FOO *", "", `schedule: field 4 (month) "FOO": "FOO" is not a number (1-12) or a month name`},
		{"0 0 * * 7", "", `schedule: field 5 (day-of-week) "7": value 7 above maximum 6 (Sunday is 0 or SUN)`},
		{"0 0 * * 1-7", "", `schedule: field 5 (day-of-week) "1-7": value 7 above maximum 6 (Sunday is 0 or SUN)`},
		{"0 0 * * MON-FOO", "", `schedule: field 5 (day-of-week) "MON-FOO": "FOO" is not a number (0-6) or a day-of-week name`},
		{"0 0 * * FRI-MON", "", `schedule: field 5 (day-of-week) "FRI-MON": range FRI-MON: start 5 is after end 1`},
		{"*/0 * * * *", "", `schedule: field 1 (minute) "*/0": step 0 must be at least 1`},
		{"*/x * * * *", "", `schedule: field 1 (minute) "*/x": step "x" is not a number`},
		{"1/2/3 * * * *", "", `schedule: field 1 (minute) "1/2/3": "1/2/3": more than one /`},
		{"1-2-3 * * * *", "", `schedule: field 1 (minute) "1-2-3": "1-2-3": more than one -`},
		{"*-5 * * * *", "", `schedule: field 1 (minute) "*-5": * cannot be part of a range`},
		{"+5 * * * *", "", `schedule: field 1 (minute) "+5": "+5" is not a number (0-59)`},
		{"-5 * * * *", "", `schedule: field 1 (minute) "-5": missing value`},
		{"1,,2 * * * *", "", `schedule: field 1 (minute) "1,,2": empty item in a list`},
		{"0 0 , 1 0", "", `schedule: field 3 (day-of-month) ",": empty item in a list`},
		{"0 L * * *", "", `schedule: field 2 (hour) "L": "L" is not a number (0-23)`},
		{"0 5 * * * *", "", "schedule: expected 5 fields (minute hour day-of-month month day-of-week), got 6"},
		{"0 5 * *", "", "schedule: expected 5 fields (minute hour day-of-month month day-of-week), got 4"},
		{"", "", "schedule: must not be empty"},
		{"   ", "", "schedule: must not be empty"},
		{"CRON_TZ=UTC 5 * * * *", "", "schedule: time zone prefixes (CRON_TZ=, TZ=) are not supported: set the time zone separately"},
		{"TZ=UTC 5 * * * *", "", "schedule: time zone prefixes (CRON_TZ=, TZ=) are not supported: set the time zone separately"},
		{"0 0 30 2 *", "", `schedule: "0 0 30 2 *" never fires: no date has that day-of-month in those months`},
		{"0 0 31 4,6,9,11 *", "", `schedule: "0 0 31 4,6,9,11 *" never fires: no date has that day-of-month in those months`},
		{"@every 90s", "", "schedule: @every 90s: must be whole minutes"},
		{"@every 0m", "", "schedule: @every 0m: must be at least 1m"},
		{"@every 30s", "", "schedule: @every 30s: must be at least 1m"},
		{"@every -5m", "", "schedule: @every -5m: must be at least 1m"},
		{"@every", "", `schedule: @every needs a duration, e.g. "@every 15m"`},
		{"@every soon", "", `schedule: @every "soon": not a duration (e.g. 15m, 2h)`},
		{"@every 10000h", "", "schedule: @every 10000h: must be at most 8784h0m0s (366 days)"},
		{"@reboot", "", `schedule: unknown descriptor "@reboot": want @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually or @every <duration>`},
		{"@DAILY", "", `schedule: unknown descriptor "@DAILY": want @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually or @every <duration>`},
		{"@daily 5", "", "schedule: @daily takes no argument"},
		{"5 * * * *", "Mars/Base", `timezone: unknown time zone "Mars/Base"`},
		{"5 * * * *", "../etc/passwd", `timezone: unknown time zone "../etc/passwd"`},
		{"5 * * * *", "Local", `timezone: "Local" is not allowed: name an IANA time zone such as "Europe/Berlin"`},
		{"61 * * * *", "Mars/Base", `schedule: field 1 (minute) "61": value 61 above maximum 59`}, // the schedule first
	}
	for _, c := range cases {
		s, err := Parse(c.expr, c.tz)
		var e *Error
		if !errors.As(err, &e) || err.Error() != c.want || s != nil {
			t.Errorf("Parse(%q, %q) = %v\n want %s", c.expr, c.tz, err, c.want)
			continue
		}
		if field, _, _ := strings.Cut(c.want, ":"); e.Field != field {
			t.Errorf("Parse(%q, %q): field %q, want %q", c.expr, c.tz, e.Field, field)
		}
		if _, err := ToEventBridge(c.expr, c.tz); err == nil || err.Error() != c.want {
			t.Errorf("ToEventBridge(%q, %q) = %v, want the same error as Parse", c.expr, c.tz, err)
		}
	}
	// Underlying errors are kept.
	_, err := Parse("5 * * * *", "Mars/Base")
	if e := (*Error)(nil); !errors.As(err, &e) || e.Err == nil || errors.Unwrap(err) == nil {
		t.Errorf("unknown time zone: no underlying error in %#v", err)
	}
}

// Whatever robfig itself refuses, Parse refuses (checkField is stricter,
// never looser), and valid expressions parse to robfig's fields.
func TestParseAgreesWithRobfig(t *testing.T) {
	for _, expr := range []string{
		"0 0 * * 7", "60 * * * *", "0 0 0 * *", "* * * * * *", "0 0 * * MON-SUN", "5-1 * * * *", "a * * * *", "1-x * * * *",
		"0 0 1 * MON", "*/7 1-5/2 ? jan-MAR,dec sun", "007 00 01 01 00", "0 0 * * 6-6", "59 23 31 12 6",
	} {
		_, rerr := parser.Parse(expr)
		s, err := Parse(expr, "")
		if rerr != nil && err == nil {
			t.Errorf("%q: robfig refuses (%v), Parse accepts", expr, rerr)
		}
		if err == nil {
			raw, _ := parser.Parse(expr)
			r := raw.(*cron.SpecSchedule)
			if r.Minute != s.spec.Minute || r.Hour != s.spec.Hour || r.Dom != s.spec.Dom || r.Month != s.spec.Month || r.Dow != s.spec.Dow {
				t.Errorf("%q: fields differ from robfig's", expr)
			}
		}
	}
}

func TestNextBasics(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 7, 30, 0, time.UTC)
	cases := []struct {
		expr, tz string
		from     time.Time
		want     time.Time
	}{
		{"*/15 * * * *", "", at, time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC)},
		{"*/15 * * * *", "", time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC), time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)},
		{"0 9 * * *", "Europe/Berlin", at, time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)},
		{"0 0 29 2 *", "", at, time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"0 0 29 2 *", "", time.Date(2097, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2104, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"0 0 1 * MON", "", at, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)},
		{"0 0 1 * MON", "", time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		{"0 0 13 * FRI", "", time.Date(2026, 2, 14, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)},
		{"0 0 13 * *,FRI", "", time.Date(2026, 2, 14, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC)},
		{"59 23 31 12 *", "", at, time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		s, err := Parse(c.expr, c.tz)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Next(c.from); !got.Equal(c.want) || got.Location() != s.Location() {
			t.Errorf("%q in %q: Next(%v) = %v, want %v", c.expr, c.tz, c.from, got, c.want)
		}
	}
	e, _ := Parse("@every 90m", "America/New_York")
	if got := e.Next(at); !got.Equal(at.Add(90*time.Minute)) || e.Every() != 90*time.Minute {
		t.Errorf("@every 90m: Next = %v, Every = %v", got, e.Every())
	}
	if e.Location().String() != "America/New_York" || e.Expr() != "@every 90m" {
		t.Errorf("@every 90m: %v %q", e.Location(), e.Expr())
	}
	if c, _ := Parse("5 * * * *", ""); c.Every() != 0 || c.Location() != time.UTC {
		t.Errorf("crontab: Every = %v, Location = %v", c.Every(), c.Location())
	}
	if got := (&Spec{}).Next(at); !got.IsZero() {
		t.Errorf("zero Spec: Next = %v", got)
	}
}

// robfig and EventBridge Scheduler at daylight-saving transitions: at spring
// forward both skip a local time that does not exist; at fall back robfig
// fires a repeated local time twice, EventBridge (and Spec.Next) once; and
// robfig's walk goes wrong in zones with half-hour shifts. If robfig changes,
// these tests say so.
func TestDaylightSavingRobfigDiffers(t *testing.T) {
	raw := func(expr string, loc *time.Location) cron.Schedule {
		s, err := parser.Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		s.(*cron.SpecSchedule).Location = loc
		return s
	}
	ny, _ := time.LoadLocation("America/New_York")
	lh, _ := time.LoadLocation("Australia/Lord_Howe")
	wall := func(ts ...time.Time) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Format("01-02 15:04 MST"))
		}
		return out
	}
	for _, c := range []struct {
		expr   string
		loc    *time.Location
		from   time.Time
		robfig []string // robfig's next three fire times
		next   []string // Spec.Next's
	}{
		// Spring forward: 2026-03-08 02:30 does not exist in New York. Both skip it.
		{"30 2 * * *", ny, time.Date(2026, 3, 7, 12, 0, 0, 0, ny),
			[]string{"03-09 02:30 EDT", "03-10 02:30 EDT", "03-11 02:30 EDT"},
			[]string{"03-09 02:30 EDT", "03-10 02:30 EDT", "03-11 02:30 EDT"}},
		{"0 * * * *", ny, time.Date(2026, 3, 8, 0, 30, 0, 0, ny),
			[]string{"03-08 01:00 EST", "03-08 03:00 EDT", "03-08 04:00 EDT"},
			[]string{"03-08 01:00 EST", "03-08 03:00 EDT", "03-08 04:00 EDT"}},
		// Fall back: 2026-11-01 01:00-01:59 happens twice. robfig repeats it.
		{"30 1 * * *", ny, time.Date(2026, 10, 31, 12, 0, 0, 0, ny),
			[]string{"11-01 01:30 EDT", "11-01 01:30 EST", "11-02 01:30 EST"},
			[]string{"11-01 01:30 EDT", "11-02 01:30 EST", "11-03 01:30 EST"}},
		{"0 * * * *", ny, time.Date(2026, 11, 1, 0, 30, 0, 0, ny),
			[]string{"11-01 01:00 EDT", "11-01 01:00 EST", "11-01 02:00 EST"},
			[]string{"11-01 01:00 EDT", "11-01 02:00 EST", "11-01 03:00 EST"}},
		// Lord Howe shifts by 30 minutes: robfig misses midnight on the day after
		// each transition (2026-04-05 02:00→01:30, 2026-10-04 02:00→02:30) …
		{"0 0 * * *", lh, time.Date(2026, 4, 4, 12, 0, 0, 0, lh),
			[]string{"04-05 00:00 +11", "04-07 00:00 +1030", "04-08 00:00 +1030"},
			[]string{"04-05 00:00 +11", "04-06 00:00 +1030", "04-07 00:00 +1030"}},
		// … misses a 02:15 that exists once …
		{"15 2 * * *", lh, time.Date(2026, 4, 4, 12, 0, 0, 0, lh),
			[]string{"04-06 02:15 +1030", "04-07 02:15 +1030", "04-08 02:15 +1030"},
			[]string{"04-05 02:15 +1030", "04-06 02:15 +1030", "04-07 02:15 +1030"}},
		// … and fires a 01:30 schedule at 02:30 too.
		{"30 1 * * *", lh, time.Date(2026, 10, 3, 12, 0, 0, 0, lh),
			[]string{"10-04 01:30 +1030", "10-04 02:30 +11", "10-05 01:30 +11"},
			[]string{"10-04 01:30 +1030", "10-05 01:30 +11", "10-06 01:30 +11"}},
	} {
		r := raw(c.expr, c.loc)
		r1 := r.Next(c.from)
		r2 := r.Next(r1)
		r3 := r.Next(r2)
		if got := wall(r1.In(c.loc), r2.In(c.loc), r3.In(c.loc)); !reflect.DeepEqual(got, c.robfig) {
			t.Errorf("robfig %q from %v: %q, want %q (robfig changed: revisit Spec.Next and the package doc)", c.expr, c.from, got, c.robfig)
		}
		s, err := Parse(c.expr, c.loc.String())
		if err != nil {
			t.Fatal(err)
		}
		n1 := s.Next(c.from)
		n2 := s.Next(n1)
		n3 := s.Next(n2)
		if got := wall(n1, n2, n3); !reflect.DeepEqual(got, c.next) {
			t.Errorf("Spec.Next %q from %v: %q, want %q", c.expr, c.from, got, c.next)
		}
	}
	// Between the two passes of a repeated hour, Next does not go back to it.
	s, _ := Parse("45 1 * * *", "America/New_York")
	if got := s.Next(time.Date(2026, 11, 1, 6, 10, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 11, 2, 6, 45, 0, 0, time.UTC)) {
		t.Errorf("from 01:10 EST (second pass): %v, want the next day", got.In(ny))
	}
	// A date the zone skipped (Apia, 2011-12-30) does not fire; robfig loops forever there.
	apia, _ := Parse("0 12 * * *", "Pacific/Apia")
	got := apia.Next(time.Date(2011, 12, 29, 13, 0, 0, 0, apia.Location()))
	if want := time.Date(2011, 12, 31, 12, 0, 0, 0, apia.Location()); !got.Equal(want) {
		t.Errorf("Apia across 2011-12-30: %v, want %v", got, want)
	}
}

// Converted expressions stay under EventBridge's 256-character limit even for
// the longest lists robfig can express (isolated pairs of two-digit values).
func TestExpressionLengthBound(t *testing.T) {
	pairs := func(lo, hi int) string {
		var vals []string
		for v := lo; v <= hi; v += 3 {
			vals = append(vals, strconv.Itoa(v))
			if v+1 <= hi {
				vals = append(vals, strconv.Itoa(v+1))
			}
		}
		return strings.Join(vals, ",")
	}
	for _, expr := range []string{
		pairs(0, 59) + " " + pairs(0, 23) + " " + pairs(1, 31) + " " + pairs(1, 12) + " *",
		pairs(1, 59) + " " + pairs(1, 23) + " " + pairs(2, 31) + " " + pairs(2, 12) + " " + pairs(0, 6),
		pairs(10, 59) + " " + pairs(10, 23) + " " + pairs(10, 31) + " " + pairs(1, 12) + " 1,3,5",
	} {
		out, err := ToEventBridge(expr, "America/Argentina/ComodRivadavia")
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		for _, e := range out {
			if len(e.Expression) > MaxExpressionLen || len(e.Expression) < 150 {
				t.Errorf("%q → %d characters: %s", expr, len(e.Expression), e.Expression)
			}
		}
	}
}

// Every schedule in a zone shares one Location: a fleet's 100,000 jobs in
// Europe/Berlin must not hold 100,000 copies of its transitions.
func TestLoadLocationSharesZones(t *testing.T) {
	a, err := LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("0 3 * * *", "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := LoadLocation("Europe/Berlin"); a != b || s.loc != a {
		t.Fatal("a zone was loaded twice")
	}
	if _, err := LoadLocation("Europe/Nowhere"); err == nil {
		t.Fatal("unknown zone accepted")
	}
	if _, err := LoadLocation("Europe/Nowhere"); err == nil {
		t.Fatal("unknown zone accepted the second time")
	}
}
