package schedule

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// This file evaluates EventBridge Scheduler's cron syntax independently of
// the converter and of robfig, from the AWS documentation ("Cron expressions
// reference", "Schedule types on EventBridge Scheduler"):
//
//	cron(minutes hours day-of-month month day-of-week year)
//	minutes 0-59        , - * /
//	hours 0-23          , - * /
//	day-of-month 1-31   , - * ? / L W
//	month 1-12, JAN-DEC , - * /
//	day-of-week 1-7, SUN-SAT (SUN=1)  , - * ? L #
//	year 1970-2199      , - * /
//
// "?" is allowed in exactly one of day-of-month and day-of-week ("*" in both
// is not allowed). "a/n" is a, a+n, … to the end of the field. "L" is the last
// day of the month (day-of-month) or of the week, 7 = SAT (day-of-week);
// "nL" the last weekday n of the month; "nW" the weekday (Monday–Friday)
// nearest day n within the month; "n#k" the k-th weekday n of the month, and
// must then be the field's only item. Local times that do not exist are
// skipped; a local time that occurs twice runs once (its first occurrence).

type awsCron struct {
	minute, hour, month []bool // indexed by value
	year                []bool // indexed by year-1970
	domAny, dowAny      bool   // "?"
	dom                 func(y int, m time.Month, d int) bool
	dow                 func(y int, m time.Month, d int) bool
}

var (
	awsMonths = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
		"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
	awsDays = map[string]int{"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
)

func parseAWSCron(expr string) (*awsCron, error) {
	inner, ok := strings.CutPrefix(expr, "cron(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return nil, fmt.Errorf("not cron(...): %q", expr)
	}
	f := strings.Split(strings.TrimSuffix(inner, ")"), " ")
	if len(f) != 6 {
		return nil, fmt.Errorf("%q: %d fields, want 6 separated by single spaces", expr, len(f))
	}
	c := &awsCron{domAny: f[2] == "?", dowAny: f[4] == "?"}
	if c.domAny == c.dowAny {
		return nil, fmt.Errorf("%q: exactly one of day-of-month and day-of-week must be ?", expr)
	}
	var err error
	set := func(s string, lo, hi int, names map[string]int, allowed string) []bool {
		if err != nil {
			return nil
		}
		var v []bool
		if v, err = awsSet(s, lo, hi, names, allowed); err != nil {
			err = fmt.Errorf("%q: %w", expr, err)
		}
		return v
	}
	c.minute = set(f[0], 0, 59, nil, ",-*/")
	c.hour = set(f[1], 0, 23, nil, ",-*/")
	c.month = set(f[3], 1, 12, awsMonths, ",-*/")
	if years := set(f[5], 1970, 2199, nil, ",-*/"); years != nil {
		c.year = years[1970:]
	}
	if err != nil {
		return nil, err
	}
	if !c.domAny {
		if c.dom, err = awsDom(f[2]); err != nil {
			return nil, fmt.Errorf("%q: day-of-month: %w", expr, err)
		}
	}
	if !c.dowAny {
		if c.dow, err = awsDow(f[4]); err != nil {
			return nil, fmt.Errorf("%q: day-of-week: %w", expr, err)
		}
	}
	return c, nil
}

// awsSet parses a field of values, a-b ranges, * and /, in [lo, hi].
func awsSet(s string, lo, hi int, names map[string]int, allowed string) ([]bool, error) {
	if bad := strings.TrimLeft(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"+allowed); bad != "" {
		return nil, fmt.Errorf("%q: character %q not allowed here", s, bad[0])
	}
	set := make([]bool, hi+1)
	for _, item := range strings.Split(s, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("bad increment in %q", item)
			}
			step = n
		}
		from, to := lo, hi
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if from, err = awsValue(a, names); err != nil {
				return nil, fmt.Errorf("%q: %w", item, err)
			}
			to = from
			switch {
			case isRange:
				if to, err = awsValue(b, names); err != nil {
					return nil, fmt.Errorf("%q: %w", item, err)
				}
			case hasStep: // "a/n": from a to the end of the field
				to = hi
			}
		}
		if from < lo || to > hi || from > to {
			return nil, fmt.Errorf("%q out of range %d-%d", item, lo, hi)
		}
		for v := from; v <= to; v += step {
			set[v] = true
		}
	}
	return set, nil
}

func awsValue(s string, names map[string]int) (int, error) {
	if v, ok := names[strings.ToUpper(s)]; ok {
		return v, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || strings.ContainsAny(s, "+-") {
		return 0, fmt.Errorf("bad value %q", s)
	}
	return v, nil
}

func lastDay(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }

func weekday(y int, m time.Month, d int) int { // SUN=1
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday()) + 1
}

// awsDom parses day-of-month: values, ranges, *, /, L, nW.
func awsDom(s string) (func(y int, m time.Month, d int) bool, error) {
	var plain []string
	var tests []func(y int, m time.Month, d int) bool
	for _, item := range strings.Split(s, ",") {
		switch {
		case item == "L":
			tests = append(tests, func(y int, m time.Month, d int) bool { return d == lastDay(y, m) })
		case strings.HasSuffix(item, "W"):
			n, err := strconv.Atoi(strings.TrimSuffix(item, "W"))
			if err != nil || n < 1 || n > 31 {
				return nil, fmt.Errorf("bad %q", item)
			}
			tests = append(tests, func(y int, m time.Month, d int) bool { return d == nearestWeekday(y, m, n) })
		default:
			plain = append(plain, item)
		}
	}
	if len(plain) > 0 {
		set, err := awsSet(strings.Join(plain, ","), 1, 31, nil, ",-*/")
		if err != nil {
			return nil, err
		}
		tests = append(tests, func(_ int, _ time.Month, d int) bool { return set[d] })
	}
	return anyOf(tests), nil
}

// nearestWeekday is the Monday–Friday nearest day n, not leaving the month.
func nearestWeekday(y int, m time.Month, n int) int {
	last := lastDay(y, m)
	if n > last {
		return -1 // AWS does not say; such a day never matches here
	}
	switch weekday(y, m, n) {
	case 7: // Saturday: Friday before, or Monday after on the 1st
		if n == 1 {
			return 3
		}
		return n - 1
	case 1: // Sunday: Monday after, or Friday before on the last day
		if n == last {
			return n - 2
		}
		return n + 1
	}
	return n
}

// awsDow parses day-of-week: values, ranges, *, L, nL, n#k.
func awsDow(s string) (func(y int, m time.Month, d int) bool, error) {
	if strings.Contains(s, "#") {
		a, b, _ := strings.Cut(s, "#")
		day, err1 := awsValue(a, awsDays)
		k, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || day < 1 || day > 7 || k < 1 || k > 5 || strings.Contains(s, ",") {
			return nil, fmt.Errorf("bad %q (# allows one expression only)", s)
		}
		return func(y int, m time.Month, d int) bool { return weekday(y, m, d) == day && (d-1)/7+1 == k }, nil
	}
	var plain []string
	var tests []func(y int, m time.Month, d int) bool
	for _, item := range strings.Split(s, ",") {
		switch {
		case item == "L":
			plain = append(plain, "7")
		case strings.HasSuffix(item, "L"):
			day, err := awsValue(strings.TrimSuffix(item, "L"), awsDays)
			if err != nil || day < 1 || day > 7 {
				return nil, fmt.Errorf("bad %q", item)
			}
			tests = append(tests, func(y int, m time.Month, d int) bool {
				return weekday(y, m, d) == day && d+7 > lastDay(y, m)
			})
		default:
			plain = append(plain, item)
		}
	}
	if len(plain) > 0 {
		set, err := awsSet(strings.Join(plain, ","), 1, 7, awsDays, ",-*")
		if err != nil {
			return nil, err
		}
		tests = append(tests, func(y int, m time.Month, d int) bool { return set[weekday(y, m, d)] })
	}
	return anyOf(tests), nil
}

func anyOf(tests []func(y int, m time.Month, d int) bool) func(y int, m time.Month, d int) bool {
	return func(y int, m time.Month, d int) bool {
		for _, t := range tests {
			if t(y, m, d) {
				return true
			}
		}
		return false
	}
}

func (c *awsCron) matchesDay(y int, m time.Month, d int) bool {
	if y < 1970 || y-1970 >= len(c.year) || !c.year[y-1970] || !c.month[m] {
		return false
	}
	if c.domAny {
		return c.dow(y, m, d)
	}
	return c.dom(y, m, d)
}

// wallClock maps local wall-clock minutes of one year in one zone to the
// first instant showing them, built by reading the clock at every minute of
// the year: a minute never shown does not exist, one shown twice keeps its
// first instant. (Independent of how Spec.Next finds instants.)
type wallClock struct {
	loc        *time.Location
	year       int
	first      []int64 // unix seconds by minute of the year; 0 = does not exist
	start, end time.Time
}

var (
	wallClocksMu sync.Mutex
	wallClocks   = map[string]*wallClock{}
)

func newWallClock(loc *time.Location, year int) *wallClock {
	wallClocksMu.Lock()
	defer wallClocksMu.Unlock()
	key := fmt.Sprint(loc, year)
	if w := wallClocks[key]; w != nil {
		return w
	}
	w := &wallClock{loc: loc, year: year, first: make([]int64, 367*1440)}
	jan1 := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	for t := jan1.Add(-16 * time.Hour); t.Before(jan1.AddDate(1, 0, 0).Add(16 * time.Hour)); t = t.Add(time.Minute) {
		l := t.In(loc)
		if l.Year() != year {
			if l.Year() > year && w.end.IsZero() {
				w.end = t
			}
			continue
		}
		if w.start.IsZero() {
			w.start = t
		}
		i := ((l.YearDay()-1)*24+l.Hour())*60 + l.Minute()
		if w.first[i] == 0 {
			w.first[i] = t.Unix()
		}
	}
	wallClocks[key] = w
	return w
}

func (w *wallClock) instant(m time.Month, d, h, mi int) (time.Time, bool) {
	u := w.unix(time.Date(w.year, m, d, 0, 0, 0, 0, time.UTC).YearDay(), h, mi)
	return time.Unix(u, 0).In(w.loc), u != 0
}

// unix is the first instant (unix seconds) of a wall-clock minute given by
// day of the year, or 0.
func (w *wallClock) unix(yday, h, mi int) int64 { return w.first[((yday-1)*24+h)*60+mi] }

// awsFires lists the instants at which a union of EventBridge expressions
// fires during the local year of w, sorted and de-duplicated.
func awsFires(t testing.TB, exprs []Expression, w *wallClock) []time.Time {
	return awsFiresFrom(t, exprs, w, time.Date(w.year, 1, 1, 0, 0, 0, 0, time.UTC), 0)
}

// awsFiresFrom is awsFires from a local date on, stopping after the day on
// which it has at least limit fire times (0: no limit).
func awsFiresFrom(t testing.TB, exprs []Expression, w *wallClock, from time.Time, limit int) []time.Time {
	t.Helper()
	var crons []*awsCron
	for _, e := range exprs {
		c, err := parseAWSCron(e.Expression)
		if err != nil {
			t.Fatal(err)
		}
		if e.TimeZone != w.loc.String() {
			t.Fatalf("%+v: time zone, want %s", e, w.loc)
		}
		crons = append(crons, c)
	}
	var fires []int64
	for day := from; day.Year() == w.year && (limit == 0 || len(fires) < limit); day = day.AddDate(0, 0, 1) {
		y, m, d := day.Date()
		yday := day.YearDay()
		for _, c := range crons {
			if !c.matchesDay(y, m, d) {
				continue
			}
			for h := range 24 {
				if !c.hour[h] {
					continue
				}
				for mi := range 60 {
					if u := w.unix(yday, h, mi); c.minute[mi] && u != 0 {
						fires = append(fires, u)
					}
				}
			}
		}
	}
	slices.Sort(fires)
	fires = slices.Compact(fires)
	if limit > 0 && len(fires) > limit {
		fires = fires[:limit]
	}
	out := make([]time.Time, len(fires))
	for i, u := range fires {
		out[i] = time.Unix(u, 0).In(w.loc)
	}
	return out
}

// The evaluator agrees with the examples of the AWS documentation.
func TestAWSCronEvaluator(t *testing.T) {
	w := newWallClock(time.UTC, 2026)
	date := func(m time.Month, d, h, mi int) time.Time { return time.Date(2026, m, d, h, mi, 0, 0, time.UTC) }
	cases := []struct {
		expr  string
		n     int         // fires in 2026
		first []time.Time // the first fires
	}{
		{"cron(0 10 * * ? *)", 365, []time.Time{date(1, 1, 10, 0), date(1, 2, 10, 0)}},
		{"cron(15 12 * * ? *)", 365, []time.Time{date(1, 1, 12, 15)}},
		{"cron(0 18 ? * MON-FRI *)", 261, []time.Time{date(1, 1, 18, 0), date(1, 2, 18, 0), date(1, 5, 18, 0)}},
		{"cron(0 8 1 * ? *)", 12, []time.Time{date(1, 1, 8, 0), date(2, 1, 8, 0)}},
		{"cron(0/15 * * * ? *)", 365 * 96, []time.Time{date(1, 1, 0, 0), date(1, 1, 0, 15)}},
		{"cron(1/10 0 1 1 ? *)", 6, []time.Time{date(1, 1, 0, 1), date(1, 1, 0, 11)}},
		{"cron(0/10 * ? * MON-FRI *)", 261 * 144, []time.Time{date(1, 1, 0, 0)}},
		{"cron(0/5 8-17 ? * MON-FRI *)", 261 * 120, []time.Time{date(1, 1, 8, 0)}},
		{"cron(0 9 ? * 2#1 *)", 12, []time.Time{date(1, 5, 9, 0), date(2, 2, 9, 0)}},   // first Monday
		{"cron(0 0 ? * 3#2 *)", 12, []time.Time{date(1, 13, 0, 0), date(2, 10, 0, 0)}}, // second Tuesday
		{"cron(0 0 L * ? *)", 12, []time.Time{date(1, 31, 0, 0), date(2, 28, 0, 0)}},
		{"cron(0 0 3W * ? *)", 12, []time.Time{date(1, 2, 0, 0), date(2, 3, 0, 0)}},   // Jan 3 is a Saturday
		{"cron(0 0 1W * ? *)", 12, []time.Time{date(1, 1, 0, 0), date(2, 2, 0, 0)}},   // Feb 1 is a Sunday
		{"cron(0 0 ? * 6L *)", 12, []time.Time{date(1, 30, 0, 0), date(2, 27, 0, 0)}}, // last Friday
		{"cron(0 0 ? * L *)", 52, []time.Time{date(1, 3, 0, 0)}},                      // Saturdays
		{"cron(0 0 ? * SUN,7 *)", 104, []time.Time{date(1, 3, 0, 0), date(1, 4, 0, 0)}},
		{"cron(0 0 1 JAN-MAR,12 ? 2026-2027)", 4, []time.Time{date(1, 1, 0, 0), date(2, 1, 0, 0)}},
		{"cron(0 0 1 1 ? 2027)", 0, nil},
	}
	for _, c := range cases {
		got := awsFires(t, []Expression{{Expression: c.expr, TimeZone: "UTC"}}, w)
		if len(got) != c.n || len(got) < len(c.first) || !slices.EqualFunc(got[:len(c.first)], c.first, time.Time.Equal) {
			t.Errorf("%s: %d fires starting %v, want %d starting %v", c.expr, len(got), got[:min(len(got), 3)], c.n, c.first)
		}
	}
	for _, bad := range []string{
		"cron(0 0 * * * *)", "cron(0 0 ? * ? *)", "cron(0 0 1 * *)", "cron(0 0 ? * 0 *)", "cron(0 0 ? * 1/2 *)",
		"cron(0 24 * * ? *)", "cron(0/0 * * * ? *)", "cron(0 0 ? * 2#1,3#1 *)", "cron(0 0 32 * ? *)", "cron(L 0 * * ? *)",
		"cron(0 0 * * ? 1969)", "cron(0  0 * * ? *)", "rate(5 minutes)",
	} {
		if _, err := parseAWSCron(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// The wall clock table follows the documented daylight-saving rules.
func TestWallClock(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	w := newWallClock(ny, 2026)
	if _, ok := w.instant(3, 8, 2, 30); ok {
		t.Error("2026-03-08 02:30 exists in New York")
	}
	at, ok := w.instant(11, 1, 1, 30)
	if _, off := at.Zone(); !ok || off != -4*3600 {
		t.Errorf("2026-11-01 01:30 = %v, want its first (EDT) occurrence", at)
	}
	apia, _ := time.LoadLocation("Pacific/Apia")
	if _, ok := newWallClock(apia, 2011).instant(12, 30, 12, 0); ok {
		t.Error("2011-12-30 exists in Apia")
	}
}
