package schedule_test

import (
	"fmt"

	"github.com/fleetcron/fleetcron/pkg/schedule"
)

func ExampleToEventBridge() {
	// Unix cron ORs day-of-month and day-of-week: the 1st and every Monday.
	exprs, err := schedule.ToEventBridge("0 9 1 * MON", "Europe/Berlin")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range exprs {
		fmt.Println(e.Expression, e.TimeZone)
	}

	exprs, _ = schedule.ToEventBridge("@every 24h", "")
	fmt.Printf("%q %q\n", exprs[0].Expression, exprs[0].TimeZone)

	_, err = schedule.ToEventBridge("0 25 * * *", "")
	fmt.Println(err)
	// Output:
	// cron(0 9 1 * ? *) Europe/Berlin
	// cron(0 9 ? * 2 *) Europe/Berlin
	// "rate(1 day)" ""
	// schedule: field 2 (hour) "25": value 25 above maximum 23
}
