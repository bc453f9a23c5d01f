// Package schedule parses fleetcron's schedules — Unix crontab with five
// fields, the @hourly … @yearly descriptors and @every in whole minutes, in an
// IANA time zone — with github.com/robfig/cron/v3, computes their fire times,
// and converts them to EventBridge Scheduler expressions.
//
// EventBridge's cron has six fields (minutes hours day-of-month month
// day-of-week year), needs exactly one of day-of-month and day-of-week to be
// "?", and numbers days of the week 1–7 from Sunday. Unix cron ORs day-of-month
// and day-of-week when both are restricted (robfig: when neither has the star
// bit); EventBridge cannot say that in one expression, so such a schedule
// converts to two, and fleetcron's run lock makes an instant both match fire
// once. Conversion works on robfig's parsed bit sets, not on the text.
//
// Daylight saving time: EventBridge Scheduler skips an invocation whose local
// time does not exist (spring forward) and runs a local time that occurs twice
// (fall back) only once. robfig skips the first but fires the repeated local
// time twice, and in zones that shift by 30 minutes (Australia/Lord_Howe) its
// walk can miss a whole day. Spec.Next therefore walks the local wall clock
// itself over robfig's parsed fields, following EventBridge, so the embedded
// cron ticker and AWS agree: a local time that does not exist is skipped, and
// of two instants with the same local wall-clock time only the first fires.
package schedule
