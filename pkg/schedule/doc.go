// Package schedule parses fleetcron's schedules — five-field Unix crontab,
// the @hourly … @yearly descriptors and @every in whole minutes, in an IANA
// time zone — with github.com/robfig/cron/v3, computes their fire times, and
// converts them to EventBridge Scheduler expressions. It is pure: no AWS SDK.
//
// # Conversion
//
// EventBridge's cron has six fields (minutes hours day-of-month month
// day-of-week year), needs exactly one of day-of-month and day-of-week to be
// "?", and numbers days of the week 1–7 from Sunday. Fields are rendered from
// robfig's parsed bit sets, not rewritten from the text: "*" for a full field,
// "a/n" for a progression that runs to the end of the field (minutes, hours,
// day-of-month, month: the fields whose documented wildcards include "/"),
// else a comma list of values and "a-b" ranges. Day-of-week never gets "/",
// and L, W and # are never produced.
//
// robfig ANDs day-of-month and day-of-week when either has its star bit ("*",
// "?" or "*/1"), and ORs them when both are restricted ("0 0 1 * MON" is the
// 1st and every Monday; "*/2" clears the star bit, so "0 0 */2 * MON" is an OR
// too). EventBridge cannot say an OR in one expression, so such a schedule
// converts to two, and fleetcron's run lock makes an instant both match fire
// once. @every converts to rate() in the largest of minutes, hours and days
// that divides it.
//
// # Daylight saving time
//
// EventBridge Scheduler documents that an invocation whose local time does
// not exist (spring forward) is skipped, and that when the clock falls back a
// schedule runs only once and does not repeat. robfig's SpecSchedule.Next
// agrees at spring forward but fires a repeated local time twice (01:30 EDT
// and 01:30 EST), and its hour-by-hour walk misbehaves in unusual zones: in
// Australia/Lord_Howe (30-minute shifts) it misses the midnight and 23:00
// fires of transition days and a 02:15 that exists once; in Asia/Tehran 2016
// (a midnight transition) it missed a day; in Pacific/Apia at the end of 2011
// (a skipped date) it loops forever.
//
// Spec.Next therefore walks civil dates and the local wall clock itself over
// robfig's parsed fields, following EventBridge, so the embedded cron ticker
// and AWS agree: a local time that does not exist is skipped, and of two
// instants with the same local wall-clock time only the first fires (the
// documentation does not say which of the two AWS uses; fleetcron's run lock
// is keyed on the scheduled instant, so the choice only matters if the two
// ever run side by side).
package schedule
