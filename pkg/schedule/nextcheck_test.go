package schedule

import (
	"errors"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func robfigCheckFires(next func(time.Time) time.Time, from, to time.Time) []time.Time {
	var out []time.Time
	for at := next(from.Add(-time.Nanosecond)); !at.IsZero() && at.Before(to); at = next(at) {
		out = append(out, at)
	}
	return out
}

// Spec.Next walks robfig's parsed fields itself: it equals robfig's own Next
// in UTC over a year, and in New York around both transitions once robfig's
// second fire of a repeated wall time is dropped (robfig is slow there, so
// the New York windows are three weeks).
func TestNextMatchesRobfigOutsideFallBack(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, c := range []struct {
		tz       string
		from, to time.Time // local dates
		n        int
	}{
		{"", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 60},
		{"America/New_York", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), 40},
		{"America/New_York", time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC), 40},
	} {
		tz := c.tz
		loc, _ := LoadLocation(tz)
		from := time.Date(c.from.Year(), c.from.Month(), c.from.Day(), 0, 0, 0, 0, loc)
		to := time.Date(c.to.Year(), c.to.Month(), c.to.Day(), 0, 0, 0, 0, loc)
		for n := 0; n < c.n; {
			expr := randomCrontab(r)
			s, err := Parse(expr, tz)
			if err != nil {
				continue
			}
			n++
			raw, err := parser.Parse(expr)
			if err != nil {
				t.Fatalf("%q: robfig refuses: %v", expr, err)
			}
			raw.(*cron.SpecSchedule).Location = loc
			want := robfigCheckFires(raw.Next, from, to)
			seen := map[string]bool{}
			var dedup []time.Time
			for _, at := range want {
				k := at.In(loc).Format("2006-01-02 15:04")
				if !seen[k] {
					dedup = append(dedup, at)
				}
				seen[k] = true
			}
			got := robfigCheckFires(s.Next, from, to)
			if d := sameFires(got, dedup, loc); d != "" {
				t.Fatalf("%q in %q: %s", expr, tz, d)
			}
		}
	}
}

// Next from arbitrary instants (not only from fire times), including
// sub-second offsets and instants inside the repeated hour, is the first
// fire strictly after the instant.
func TestNextFromArbitraryInstants(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	ny, _ := time.LoadLocation("America/New_York")
	w := newWallClock(ny, 2026)
	for n := 0; n < 200; {
		expr := randomCrontab(r)
		s, err := Parse(expr, "America/New_York")
		if err != nil {
			continue
		}
		n++
		exprs, _ := s.EventBridge()
		all := awsFires(t, exprs, w)
		for range 50 {
			var at time.Time
			switch r.IntN(3) {
			case 0: // anywhere in the year
				at = w.start.Add(time.Duration(r.Int64N(int64(w.end.Sub(w.start)))))
			case 1: // around fall back (05:00-07:00 UTC on 2026-11-01)
				at = time.Date(2026, 11, 1, 4, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(4 * time.Hour))))
			default: // exactly on a fire, or a nanosecond before
				if len(all) == 0 {
					continue
				}
				at = all[r.IntN(len(all))].Add(-time.Duration(r.IntN(2)))
			}
			i := sort.Search(len(all), func(i int) bool { return all[i].After(at) })
			if i == len(all) {
				continue // the next fire is next year
			}
			if got := s.Next(at); !got.Equal(all[i]) {
				t.Fatalf("%q: Next(%v) = %v, want %v", expr, at.In(ny), got.In(ny), all[i].In(ny))
			}
		}
	}
}

// Parse agrees with robfig on whatever it accepts.
func FuzzParseMatchesRobfig(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr, "")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%q: %v", expr, err)
			}
			return
		}
		if s.Every() > 0 {
			return
		}
		raw, err := parser.Parse(strings.Join(strings.Fields(expr), " "))
		if err != nil {
			t.Fatalf("%q: Parse accepts, robfig refuses: %v", expr, err)
		}
		r := raw.(*cron.SpecSchedule)
		if r.Minute != s.spec.Minute || r.Hour != s.spec.Hour || r.Dom != s.spec.Dom || r.Month != s.spec.Month || r.Dow != s.spec.Dow {
			t.Fatalf("%q: bits differ", expr)
		}
		// In UTC robfig's Next is trustworthy.
		from := time.Date(2026, 2, 26, 0, 0, 0, 0, time.UTC)
		a, b := from, from
		for range 5 {
			a, b = s.Next(a), r.Next(b)
			if !a.Equal(b) {
				t.Fatalf("%q: Next %v, robfig %v", expr, a, b)
			}
		}
	})
}
