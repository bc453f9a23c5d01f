package schedule

import (
	"errors"
	"testing"
)

// Time zone names: IANA names are accepted; files of the system zone
// directory that are not IANA zones, and odd spellings of real ones, are
// refused (their meaning depends on the machine, and EventBridge does not
// know them).
func TestLoadLocationNames(t *testing.T) {
	for _, tz := range []string{
		"", "UTC", "Europe/Berlin", "America/Argentina/ComodRivadavia", "America/Port-au-Prince",
		"Etc/GMT+5", "Etc/GMT-14", "EST5EDT", "US/Eastern", "GMT+0", "Australia/Lord_Howe",
	} {
		if _, err := LoadLocation(tz); err != nil {
			t.Errorf("LoadLocation(%q) = %v", tz, err)
		}
	}
	for _, tz := range []string{
		"Local", "localtime", "posixrules", "Factory", "right/UTC", "posix/Europe/Berlin",
		"./UTC", "Europe//Berlin", "Europe/Berlin/", "/UTC", "Etc/../UTC", "Europe", "europe berlin",
		"Europe/Berlin\x00", "+05:00", "0", "Mars/Base",
	} {
		loc, err := LoadLocation(tz)
		var e *Error
		if !errors.As(err, &e) || e.Field != "timezone" || loc != nil {
			t.Errorf("LoadLocation(%q) = %v, %v; want a timezone *Error", tz, loc, err)
		}
	}
}

// Cases from the list that the main tables do not spell out.
func TestMoreParseErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"0 0 32 * *": `schedule: field 3 (day-of-month) "32": value 32 above maximum 31`,
		"0 0 * * 8":  `schedule: field 5 (day-of-week) "8": value 8 above maximum 6 (Sunday is 0 or SUN)`,
		"@every x":   `schedule: @every "x": not a duration (e.g. 15m, 2h)`,
		"@hourly x":  "schedule: @hourly takes no argument",
		"@weekdays":  `schedule: unknown descriptor "@weekdays": want @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually or @every <duration>`,
	} {
		if _, err := Parse(expr, ""); err == nil || err.Error() != want {
			t.Errorf("Parse(%q) = %v, want %s", expr, err, want)
		}
	}
	// robfig itself numbers day-of-week 0-6 and refuses 7 (Parse follows).
	if _, err := parser.Parse("0 0 * * 7"); err == nil {
		t.Error("robfig accepts day-of-week 7: revisit the day-of-week table")
	}
}
