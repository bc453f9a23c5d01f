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
		{"5 * * * *", "", []string{"cron(5 * * * ? *)"}},
		{"*/15 * * * *", "", []string{"cron(0/15 * * * ? *)"}},
		{"5-20/5 * * * *", "", []string{"cron(5,10,15,20 * * * ? *)"}},
		{"0 9-17 * * MON-FRI", "Europe/Berlin", []string{"cron(0 9-17 ? * 2-6 *)"}},
		{"0 0 * * 0", "", []string{"cron(0 0 ? * 1 *)"}},
		{"0 0 * * SUN,SAT", "", []string{"cron(0 0 ? * 1,7 *)"}},
		{"30 2 1 JAN,JUL *", "", []string{"cron(30 2 1 1,7 ? *)"}},
		{"0 0 1 * MON", "", []string{"cron(0 0 1 * ? *)", "cron(0 0 ? * 2 *)"}},
		{"0 0 */2 * MON", "", []string{"cron(0 0 1/2 * ? *)", "cron(0 0 ? * 2 *)"}},
		{"0 0 1-31 * MON", "", []string{"cron(0 0 * * ? *)"}}, // OR with every day is every day
		{"0 0 1 * 0-6", "", []string{"cron(0 0 * * ? *)"}},
		{"0 0 * * *", "", []string{"cron(0 0 * * ? *)"}},
		{"0 0 ? * MON", "", []string{"cron(0 0 ? * 2 *)"}},
		{"0 12 15 * ?", "", []string{"cron(0 12 15 * ? *)"}},
		{"0 0,12 1,15 */3 *", "", []string{"cron(0 0,12 1,15 1/3 ? *)"}},
		{"@hourly", "", []string{"cron(0 * * * ? *)"}},
		{"@daily", "America/New_York", []string{"cron(0 0 * * ? *)"}},
		{"@midnight", "", []string{"cron(0 0 * * ? *)"}},
		{"@weekly", "", []string{"cron(0 0 ? * 1 *)"}},
		{"@monthly", "", []string{"cron(0 0 1 * ? *)"}},
		{"@yearly", "", []string{"cron(0 0 1 1 ? *)"}},
		{"@annually", "", []string{"cron(0 0 1 1 ? *)"}},
		{"@every 1m", "", []string{"rate(1 minute)"}},
		{"@every 90m", "", []string{"rate(90 minutes)"}},
		{"@every 2h", "", []string{"rate(2 hours)"}},
		{"@every 24h", "", []string{"rate(1 day)"}},
		{"@every 72h", "", []string{"rate(3 days)"}},
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

func TestParseErrorsNameTheField(t *testing.T) {
	cases := []struct{ expr, tz, field, want string }{
		{"61 * * * *", "", "schedule", "field 1 (minute)"},
		{"0 25 * * *", "", "schedule", "field 2 (hour)"},
		{"0 0 32 * *", "", "schedule", "field 3 (day-of-month)"},
		{"0 0 * 13 *", "", "schedule", "field 4 (month)"},
		{"0 0 * * 8", "", "schedule", "field 5 (day-of-week)"},
		{"0 0 * * 7", "", "schedule", "field 5 (day-of-week)"}, // robfig's day-of-week is 0-6
		{"0 0 * * FOO", "", "schedule", "field 5 (day-of-week)"},
		{"*/0 * * * *", "", "schedule", "field 1 (minute)"},
		{"0 0 , 1 0", "", "schedule", "field 3 (day-of-month)"},
		{"1,,2 * * * *", "", "schedule", "empty item"},
		{"0 5 * * * *", "", "schedule", "expected 5 fields"},
		{"0 5 * *", "", "schedule", "expected 5 fields"},
		{"", "", "schedule", "must not be empty"},
		{"CRON_TZ=UTC 5 * * * *", "", "schedule", "time zone prefixes"},
		{"TZ=UTC 5 * * * *", "", "schedule", "time zone prefixes"},
		{"0 0 30 2 *", "", "schedule", "never fires"},
		{"@every 90s", "", "schedule", "whole minutes"},
		{"@every 0m", "", "schedule", "at least 1m"},
		{"@every 30s", "", "schedule", "at least 1m"},
		{"@every", "", "schedule", "needs a duration"},
		{"@every soon", "", "schedule", "not a duration"},
		{"@every 10000h", "", "schedule", "at most"},
		{"@reboot", "", "schedule", "unknown descriptor"},
		{"@daily 5", "", "schedule", "takes no argument"},
		{"5 * * * *", "Mars/Base", "timezone", "unknown time zone"},
		{"5 * * * *", "Local", "timezone", "not allowed"},
	}
	for _, c := range cases {
		_, err := Parse(c.expr, c.tz)
		var e *Error
		if !errors.As(err, &e) || e.Field != c.field || !strings.Contains(e.Reason, c.want) {
			t.Errorf("Parse(%q, %q) = %v; want field %s with %q", c.expr, c.tz, err, c.field, c.want)
		}
	}
}

func TestNextBasics(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 7, 30, 0, time.UTC)
	s, _ := Parse("*/15 * * * *", "")
	if got := s.Next(at); !got.Equal(time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC)) {
		t.Fatalf("next = %v", got)
	}
	e, _ := Parse("@every 90m", "")
	if got := e.Next(at); !got.Equal(at.Add(90*time.Minute)) || e.Every() != 90*time.Minute {
		t.Fatalf("@every next = %v", got)
	}
	b, _ := Parse("0 9 * * *", "Europe/Berlin")
	if got := b.Next(at); got.UTC().Hour() != 8 || b.Location().String() != "Europe/Berlin" {
		t.Fatalf("Berlin 09:00 in winter = %v UTC", got.UTC())
	}
}

// At fall-back robfig fires a repeated local time twice; Spec.Next, like
// EventBridge Scheduler, fires it once. At spring-forward both skip a local
// time that does not exist.
func TestDaylightSavingTransitions(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	// 2026-11-01 01:30 happens twice in New York (EDT, then EST).
	from := time.Date(2026, 10, 31, 12, 0, 0, 0, ny)
	raw, err := cron.ParseStandard("30 1 * * *")
	if err != nil {
		t.Fatal(err)
	}
	raw.(*cron.SpecSchedule).Location = ny
	first := raw.Next(from)
	second := raw.Next(first)
	if second.Sub(first) != time.Hour {
		t.Fatalf("robfig no longer repeats the fall-back hour (%v, %v): revisit Spec.Next", first, second)
	}
	s, _ := Parse("30 1 * * *", "America/New_York")
	n1 := s.Next(from)
	n2 := s.Next(n1)
	if !n1.Equal(first) || n2.Sub(n1) != 25*time.Hour {
		t.Fatalf("Spec.Next at fall-back: %v then %v; want %v then a day later", n1, n2, first)
	}
	// Hourly at :30 skips the repeated 01:30 too: one fire per local time.
	h, _ := Parse("30 * * * *", "America/New_York")
	a := h.Next(time.Date(2026, 11, 1, 0, 45, 0, 0, ny))
	b := h.Next(a)
	if a.In(ny).Hour() != 1 || b.In(ny).Hour() != 2 || b.Sub(a) != 2*time.Hour {
		t.Fatalf("hourly across fall-back: %v then %v", a.In(ny), b.In(ny))
	}
	// 2026-03-08 02:30 does not exist in New York: skipped, next day instead.
	sp, _ := Parse("30 2 * * *", "America/New_York")
	got := sp.Next(time.Date(2026, 3, 7, 12, 0, 0, 0, ny))
	if want := time.Date(2026, 3, 9, 2, 30, 0, 0, ny); !got.Equal(want) {
		t.Fatalf("spring-forward: %v, want %v", got, want)
	}
}

func TestExpressionLengthLimit(t *testing.T) {
	// Every other minute but one: no step form, a long list in two fields.
	var mins []string
	for m := 0; m < 60; m += 2 {
		if m != 30 {
			mins = append(mins, strconv.Itoa(m))
		}
	}
	var hours []string
	for h := 0; h < 24; h += 2 {
		if h != 12 {
			hours = append(hours, strconv.Itoa(h))
		}
	}
	expr := strings.Join(mins, ",") + " " + strings.Join(hours, ",") + " 1,3,5,7,9,11,13,15,17,19,21,23,25,27,29 * *"
	out, err := ToEventBridge(expr, "")
	var e *Error
	if err == nil {
		for _, x := range out {
			if len(x.Expression) > MaxExpressionLen {
				t.Fatalf("over-long expression returned: %d chars", len(x.Expression))
			}
		}
	} else if !errors.As(err, &e) || !strings.Contains(e.Reason, "limit") {
		t.Fatalf("err = %v", err)
	}
}
