package schedule

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	monthNames = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	dayNames   = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
)

// randomCrontab makes a 5-field expression of values, names, lists, ranges
// and steps; both day fields are restricted about half the time. Minutes are
// kept sparse (at most a few dozen a day) so a year of fires stays cheap.
func randomCrontab(r *rand.Rand) string {
	type shape struct {
		lo, hi   int
		names    []string
		starPct  int // the whole field is a star
		itemStar bool
		minStep  int
		maxSpan  int // of a plain range
	}
	field := func(f shape) string {
		if r.IntN(100) < f.starPct {
			return []string{"*", "*", "*", "?", "*/1"}[r.IntN(5)]
		}
		value := func() (int, string) {
			v := f.lo + r.IntN(f.hi-f.lo+1)
			if f.names != nil && r.IntN(3) == 0 {
				n := f.names[v-f.lo]
				if r.IntN(4) == 0 {
					n = strings.ToLower(n)
				}
				return v, n
			}
			return v, strconv.Itoa(v)
		}
		step := func() int { return f.minStep + r.IntN(max(2, (f.hi-f.lo)/3)) }
		var items []string
		for range 1 + r.IntN(3) {
			a, as := value()
			b, bs := value()
			if a > b {
				a, b, as, bs = b, a, bs, as
			}
			switch k := r.IntN(10); {
			case k < 4:
				items = append(items, as)
			case k < 6 && b-a <= f.maxSpan:
				items = append(items, as+"-"+bs)
			case k < 6:
				items = append(items, fmt.Sprintf("%s-%d", as, a+r.IntN(f.maxSpan+1)))
			case k < 7:
				items = append(items, fmt.Sprintf("%s-%s/%d", as, bs, step()))
			case k < 8:
				items = append(items, fmt.Sprintf("%s/%d", as, step()))
			case k < 9 || !f.itemStar:
				items = append(items, fmt.Sprintf("*/%d", 1+step()))
			default:
				items = append(items, "*") // a star inside a list keeps robfig's star bit
			}
		}
		return strings.Join(items, ",")
	}
	return strings.Join([]string{
		field(shape{lo: 0, hi: 59, minStep: 10, maxSpan: 3}),
		field(shape{lo: 0, hi: 23, starPct: 15, itemStar: true, minStep: 1, maxSpan: 23}),
		field(shape{lo: 1, hi: 31, starPct: 30, itemStar: true, minStep: 1, maxSpan: 30}),
		field(shape{lo: 1, hi: 12, names: monthNames, starPct: 40, itemStar: true, minStep: 1, maxSpan: 11}),
		field(shape{lo: 0, hi: 6, names: dayNames, starPct: 30, itemStar: true, minStep: 1, maxSpan: 6}),
	}, " ")
}

// nextFires lists Spec.Next's fire times in [from, to).
func nextFires(s *Spec, from, to time.Time) []time.Time {
	var out []time.Time
	for at := s.Next(from.Add(-time.Nanosecond)); !at.IsZero() && at.Before(to); at = s.Next(at) {
		out = append(out, at)
	}
	return out
}

// sameFires reports the first difference between Spec.Next's fire times and
// the AWS evaluator's, or "".
func sameFires(got, want []time.Time, loc *time.Location) string {
	i := 0
	for i < len(got) && i < len(want) && got[i].Equal(want[i]) {
		i++
	}
	if i == len(got) && i == len(want) {
		return ""
	}
	show := func(ts []time.Time) string {
		if i >= len(ts) {
			return "(none)"
		}
		return ts[i].In(loc).Format("2006-01-02 15:04 MST")
	}
	return fmt.Sprintf("fire %d differs: Next %s, AWS %s (Next has %d fires, AWS %d)", i, show(got), show(want), len(got), len(want))
}

// Over a whole year, the EventBridge expressions fire at exactly the
// instants Spec.Next gives, for random crontabs in UTC and in zones with
// daylight saving time (both transitions inside the year), half-hour shifts
// (Lord Howe), midnight transitions (Santiago) and a skipped date (Apia).
func TestEventBridgeMatchesNextProperty(t *testing.T) {
	zones := []struct {
		tz         string
		year, want int
	}{
		{"", 2026, 400},
		{"America/New_York", 2026, 400},
		{"Europe/Berlin", 2024, 60},
		{"Australia/Lord_Howe", 2026, 50},
		{"America/Santiago", 2026, 50},
		{"Pacific/Apia", 2011, 40},
	}
	r := rand.New(rand.NewPCG(2026, 11))
	var total, ors, fires int
	for _, z := range zones {
		loc, err := LoadLocation(z.tz)
		if err != nil {
			t.Fatal(err)
		}
		w := newWallClock(loc, z.year)
		for n := 0; n < z.want; {
			expr := randomCrontab(r)
			s, err := Parse(expr, z.tz)
			if err != nil {
				var e *Error
				if errors.As(err, &e) && strings.Contains(e.Reason, "never fires") {
					continue // e.g. "0 0 31 2,4 *"
				}
				t.Fatalf("generated %q refused: %v", expr, err)
			}
			n++
			exprs, err := s.EventBridge()
			if err != nil {
				t.Fatalf("%q: %v", expr, err)
			}
			if len(exprs) == 2 {
				ors++
			}
			want := awsFires(t, exprs, w)
			got := nextFires(s, w.start, w.end)
			if diff := sameFires(got, want, loc); diff != "" {
				t.Fatalf("%q in %s %d → %v: %s", expr, loc, z.year, exprs, diff)
			}
			total++
			fires += len(got)
		}
	}
	if total < 1000 || ors < total/5 {
		t.Fatalf("only %d expressions checked, %d of them ORs", total, ors)
	}
	t.Logf("%d expressions (%d ORs of day-of-month and day-of-week), %d fire times", total, ors, fires)
}

// Dense schedules over whole years in zones with unusual transitions.
func TestEventBridgeMatchesNextAcrossTransitions(t *testing.T) {
	for _, c := range []struct {
		expr, tz string
		year     int
	}{
		{"*/10 * * * *", "America/New_York", 2026},
		{"15,45 0-3 * * *", "Europe/Berlin", 2026},
		{"*/15 * * * *", "Australia/Lord_Howe", 2026}, // 30-minute shifts
		{"0,20,40 0,1,2,23 * * *", "America/Santiago", 2026},
		{"30 * * * *", "Asia/Tehran", 2016},        // midnight transitions
		{"*/30 * * * *", "Antarctica/Troll", 2026}, // two-hour shifts
		{"0 * * * *", "Pacific/Apia", 2011},        // 2011-12-30 skipped
		{"0 12 29 12 FRI", "Pacific/Apia", 2011},   // the Friday that was not
		{"0 0 * * *", "America/Havana", 2026},
	} {
		s, err := Parse(c.expr, c.tz)
		if err != nil {
			t.Fatal(err)
		}
		exprs, err := s.EventBridge()
		if err != nil {
			t.Fatal(err)
		}
		w := newWallClock(s.Location(), c.year)
		if diff := sameFires(nextFires(s, w.start, w.end), awsFires(t, exprs, w), s.Location()); diff != "" {
			t.Errorf("%q in %s %d → %v: %s", c.expr, c.tz, c.year, exprs, diff)
		}
	}
}
