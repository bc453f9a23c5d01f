package schedule

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// awsCron evaluates EventBridge Scheduler's cron syntax, written from the
// AWS documentation ("Schedule types on EventBridge Scheduler", cron-based
// schedules): six fields minutes hours day-of-month month day-of-week year;
// wildcards , - * / in all fields, ? in exactly one of day-of-month and
// day-of-week; day-of-week 1-7 or SUN-SAT with SUN=1; month 1-12 or JAN-DEC.
// Times are local wall-clock times in the schedule's zone; per the Scheduler
// documentation on daylight saving time, a local time that does not exist is
// skipped and one that occurs twice runs once.
type awsCron struct {
	min, hour, dom, month, dow, year []bool
	domAny, dowAny                   bool
}

var awsNames = map[string]map[string]int{
	"month": {"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12},
	"dow":   {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7},
}

func parseAWSCron(expr string) (*awsCron, error) {
	inner, ok := strings.CutPrefix(expr, "cron(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return nil, fmt.Errorf("not cron(...): %q", expr)
	}
	f := strings.Fields(strings.TrimSuffix(inner, ")"))
	if len(f) != 6 {
		return nil, fmt.Errorf("%q: %d fields, want 6", expr, len(f))
	}
	if (f[2] == "?") == (f[4] == "?") {
		return nil, fmt.Errorf("%q: exactly one of day-of-month and day-of-week must be ?", expr)
	}
	c := &awsCron{domAny: f[2] == "?", dowAny: f[4] == "?"}
	var err error
	parse := func(s string, lo, hi int, names string, q bool) []bool {
		if err != nil {
			return nil
		}
		var set []bool
		set, err = awsField(s, lo, hi, awsNames[names], q)
		return set
	}
	c.min = parse(f[0], 0, 59, "", false)
	c.hour = parse(f[1], 0, 23, "", false)
	c.dom = parse(f[2], 1, 31, "", true)
	c.month = parse(f[3], 1, 12, "month", false)
	c.dow = parse(f[4], 1, 7, "dow", true)
	c.year = parse(f[5], 1970, 2199, "", false)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", expr, err)
	}
	return c, nil
}

func awsValue(s string, names map[string]int) (int, error) {
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	return strconv.Atoi(s)
}

func awsField(s string, lo, hi int, names map[string]int, q bool) ([]bool, error) {
	set := make([]bool, hi+1)
	if s == "?" {
		if !q {
			return nil, fmt.Errorf("? not allowed here")
		}
		for v := lo; v <= hi; v++ {
			set[v] = true
		}
		return set, nil
	}
	for _, part := range strings.Split(s, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			var err error
			if step, err = strconv.Atoi(stepText); err != nil || step < 1 {
				return nil, fmt.Errorf("bad step %q", part)
			}
		}
		from, to := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var e1, e2 error
			from, e1 = awsValue(a, names)
			to, e2 = awsValue(b, names)
			if e1 != nil || e2 != nil {
				return nil, fmt.Errorf("bad range %q", part)
			}
		default:
			v, err := awsValue(rng, names)
			if err != nil {
				return nil, fmt.Errorf("bad value %q", part)
			}
			from, to = v, v
			if hasStep { // "a/s": from a, every s, to the end
				to = hi
			}
		}
		if from < lo || to > hi || from > to {
			return nil, fmt.Errorf("out of range %q", part)
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return set, nil
}

// firstInstant is the first instant whose wall clock in loc is y-m-d h:mi,
// or false if that local time does not exist.
func firstInstant(y int, m time.Month, d, h, mi int, loc *time.Location) (time.Time, bool) {
	t := time.Date(y, m, d, h, mi, 0, 0, loc)
	wall := func(u time.Time) bool {
		uy, um, ud := u.Date()
		return uy == y && um == m && ud == d && u.Hour() == h && u.Minute() == mi
	}
	if !wall(t) {
		return time.Time{}, false
	}
	best := t
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 90 * time.Minute, 2 * time.Hour} {
		if u := t.Add(-back); wall(u.In(loc)) && u.Before(best) {
			best = u
		}
	}
	return best, true
}

// fires lists the instants in [from, to) of the union of AWS expressions,
// at most limit of them.
func fires(t *testing.T, exprs []Expression, from, to time.Time, limit int) []time.Time {
	t.Helper()
	var crons []*awsCron
	loc := time.UTC
	for _, e := range exprs {
		c, err := parseAWSCron(e.Expression)
		if err != nil {
			t.Fatal(err)
		}
		crons = append(crons, c)
		if e.TimeZone != "" {
			l, err := time.LoadLocation(e.TimeZone)
			if err != nil {
				t.Fatal(err)
			}
			loc = l
		}
	}
	var out []time.Time
	day := time.Date(from.In(loc).Year(), from.In(loc).Month(), from.In(loc).Day(), 12, 0, 0, 0, loc)
	for ; day.Before(to.Add(24*time.Hour)) && len(out) < limit; day = day.AddDate(0, 0, 1) {
		y, m, d := day.Date()
		wd := int(day.Weekday()) + 1 // SUN=1
		for h := 0; h < 24; h++ {
			for mi := 0; mi < 60; mi++ {
				match := false
				for _, c := range crons {
					if c.year[y] && c.month[m] && c.hour[h] && c.min[mi] &&
						((c.domAny && c.dow[wd]) || (c.dowAny && c.dom[d])) {
						match = true
						break
					}
				}
				if !match {
					continue
				}
				if at, ok := firstInstant(y, m, d, h, mi, loc); ok && !at.Before(from) && at.Before(to) {
					out = append(out, at)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	out = slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// randomCrontab makes a 5-field expression from values, lists, ranges,
// steps and names; both day fields are restricted often.
func randomCrontab(r *rand.Rand) string {
	field := func(lo, hi int, names []string, starOdds int) string {
		switch k := r.IntN(10); {
		case k < starOdds:
			return "*"
		case k < 4:
			return strconv.Itoa(lo + r.IntN(hi-lo+1))
		case k < 6:
			n := 2 + r.IntN(3)
			var parts []string
			for range n {
				parts = append(parts, strconv.Itoa(lo+r.IntN(hi-lo+1)))
			}
			return strings.Join(parts, ",")
		case k < 7:
			a := lo + r.IntN(hi-lo+1)
			b := a + r.IntN(hi-a+1)
			return fmt.Sprintf("%d-%d", a, b)
		case k < 8:
			a := lo + r.IntN(hi-lo+1)
			b := a + r.IntN(hi-a+1)
			return fmt.Sprintf("%d-%d/%d", a, b, 1+r.IntN(4))
		case k < 9:
			return fmt.Sprintf("*/%d", 2+r.IntN(hi/2))
		default:
			if names != nil {
				a := r.IntN(len(names))
				b := a + r.IntN(len(names)-a)
				if a == b {
					return names[a]
				}
				return names[a] + "-" + names[b]
			}
			return strconv.Itoa(lo + r.IntN(hi-lo+1))
		}
	}
	months := []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	days := []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
	return strings.Join([]string{
		field(0, 59, nil, 0), // a star minute field fires 1,440 times a day: rare
		field(0, 23, nil, 2),
		field(1, 31, nil, 3),
		field(1, 12, months, 3),
		field(0, 6, days, 3),
	}, " ")
}

// The converted expressions fire at exactly the instants Spec.Next gives,
// over a year, in UTC and in zones with daylight saving time.
func TestEventBridgeMatchesNextProperty(t *testing.T) {
	zones := []struct {
		tz string
		n  int
	}{{"", 700}, {"America/New_York", 250}, {"Europe/Berlin", 40}, {"Australia/Lord_Howe", 30}}
	const limit = 600 // fire times compared per expression (the year, or its first 600)
	r := rand.New(rand.NewPCG(2026, 11))
	total := 0
	for _, z := range zones {
		loc, err := LoadLocation(z.tz)
		if err != nil {
			t.Fatal(err)
		}
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
		to := from.AddDate(1, 0, 0)
		for n := 0; n < z.n; {
			expr := randomCrontab(r)
			s, err := Parse(expr, z.tz)
			if err != nil {
				continue // e.g. "0 0 31 2 *": refused as never firing
			}
			n++
			total++
			exprs, err := s.EventBridge()
			if err != nil {
				t.Fatalf("%q: %v", expr, err)
			}
			want := fires(t, exprs, from, to, limit)
			var got []time.Time
			for at := s.Next(from.Add(-time.Second)); !at.IsZero() && at.Before(to) && len(got) < limit; at = s.Next(at) {
				got = append(got, at)
			}
			if !slices.EqualFunc(got, want, func(a, b time.Time) bool { return a.Equal(b) }) {
				i := 0
				for i < len(got) && i < len(want) && got[i].Equal(want[i]) {
					i++
				}
				t.Fatalf("%q in %q → %v: differ at fire %d (Next %d fires, AWS %d): Next %v, AWS %v",
					expr, z.tz, exprs, i, len(got), len(want), at(got, i), at(want, i))
			}
		}
	}
	if total < 1000 {
		t.Fatalf("only %d expressions checked", total)
	}
}

// Dense schedules around the transitions: every 10 or 15 minutes across the
// New York and Lord Howe (30-minute shift) DST days.
func TestEventBridgeMatchesNextAcrossTransitions(t *testing.T) {
	for _, c := range []struct {
		expr, tz string
		from     time.Time
	}{
		{"*/10 * * * *", "America/New_York", time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)},
		{"*/10 * * * *", "America/New_York", time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC)},
		{"*/15 1-3 * * *", "Australia/Lord_Howe", time.Date(2026, 4, 4, 0, 0, 0, 0, time.UTC)},
		{"*/15 1-3 * * *", "Australia/Lord_Howe", time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC)},
		{"0,30 * * * *", "Europe/Berlin", time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC)},
		{"0,30 * * * *", "Europe/Berlin", time.Date(2026, 10, 24, 0, 0, 0, 0, time.UTC)},
	} {
		s, err := Parse(c.expr, c.tz)
		if err != nil {
			t.Fatal(err)
		}
		exprs, _ := s.EventBridge()
		to := c.from.AddDate(0, 0, 3)
		want := fires(t, exprs, c.from, to, 1<<20)
		var got []time.Time
		for a := s.Next(c.from.Add(-time.Second)); a.Before(to); a = s.Next(a) {
			got = append(got, a)
		}
		if !slices.EqualFunc(got, want, func(a, b time.Time) bool { return a.Equal(b) }) {
			t.Fatalf("%q in %s: Next gives %d fires, AWS %d", c.expr, c.tz, len(got), len(want))
		}
	}
}

func at(ts []time.Time, i int) any {
	if i < len(ts) {
		return ts[i]
	}
	return "(none)"
}
