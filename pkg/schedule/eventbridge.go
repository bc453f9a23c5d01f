package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Expression is one EventBridge Scheduler schedule expression and its zone.
type Expression struct {
	Expression string // cron(...) or rate(...)
	TimeZone   string // IANA name for cron(); "" for rate()
}

// MaxExpressionLen is EventBridge Scheduler's limit on ScheduleExpression
// (API model: 1 to 256 characters).
const MaxExpressionLen = 256

// ToEventBridge parses and converts in one step.
func ToEventBridge(expr, timezone string) ([]Expression, error) {
	s, err := Parse(expr, timezone)
	if err != nil {
		return nil, err
	}
	return s.EventBridge()
}

// EventBridge converts the schedule to EventBridge Scheduler expressions:
// rate() for @every, else one cron() — or two when day-of-month and
// day-of-week are both restricted, which robfig ORs and EventBridge cannot.
// Fields are rendered from robfig's parsed bit sets.
func (s *Spec) EventBridge() ([]Expression, error) {
	if s.every > 0 {
		return []Expression{{Expression: rate(s.every)}}, nil
	}
	if s.spec == nil {
		return nil, scheduleErr("not a parsed schedule")
	}
	sp := s.spec
	tz := s.Location().String()
	minute := render(sp.Minute, 0, 59, 0, true)
	hour := render(sp.Hour, 0, 23, 0, true)
	month := render(sp.Month, 1, 12, 0, true)
	dom := render(sp.Dom, 1, 31, 0, true)
	dow := render(sp.Dow, 0, 6, 1, false) // Unix 0=SUN → AWS 1=SUN; AWS has no "/" here
	cronOf := func(dom, dow string) Expression {
		return Expression{Expression: fmt.Sprintf("cron(%s %s %s %s %s *)", minute, hour, dom, month, dow), TimeZone: tz}
	}
	and := sp.Dom&starBit != 0 || sp.Dow&starBit != 0
	var out []Expression
	switch {
	case dom == "*" && dow == "*", !and && (dom == "*" || dow == "*"):
		// Every day; ORed with a full side is every day too.
		out = []Expression{cronOf("*", "?")}
	case dom == "*": // ANDed with a full day-of-month
		out = []Expression{cronOf("?", dow)}
	case dow == "*": // ANDed with a full day-of-week
		out = []Expression{cronOf(dom, "?")}
	default: // both restricted: robfig ORs them
		out = []Expression{cronOf(dom, "?"), cronOf("?", dow)}
	}
	for _, e := range out {
		// Unreachable with robfig's fields (at most 240 characters), kept
		// so that a change to render cannot ship an expression AWS refuses.
		if len(e.Expression) > MaxExpressionLen {
			return nil, scheduleErr("%q converts to an EventBridge expression of %d characters, over its limit of %d",
				s.expr, len(e.Expression), MaxExpressionLen)
		}
	}
	return out, nil
}

func rate(d time.Duration) string {
	n, unit := int64(d/time.Minute), "minute"
	switch {
	case n%(24*60) == 0:
		n, unit = n/(24*60), "day"
	case n%60 == 0:
		n, unit = n/60, "hour"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("rate(%d %s)", n, unit)
}

// render writes the values of bit set b in [lo, hi] as an EventBridge field:
// "*" when full, "start/step" for a progression of three or more values that
// runs to the end of the range (if steps are allowed: AWS documents "/" for
// minutes, hours, day-of-month and month, and "start/step" as its only
// form), else a comma list of values and a-b ranges. offset is added to every
// value written.
func render(b uint64, lo, hi, offset int, steps bool) string {
	var vals []int
	for v := lo; v <= hi; v++ {
		if b&(1<<uint(v)) != 0 {
			vals = append(vals, v)
		}
	}
	if len(vals) == hi-lo+1 {
		return "*"
	}
	if steps && len(vals) >= 3 {
		step := vals[1] - vals[0]
		prog := step > 1
		for i := 2; prog && i < len(vals); i++ {
			prog = vals[i]-vals[i-1] == step
		}
		if prog && vals[len(vals)-1]+step > hi {
			return strconv.Itoa(vals[0]+offset) + "/" + strconv.Itoa(step)
		}
	}
	var parts []string
	for i := 0; i < len(vals); {
		j := i
		for j+1 < len(vals) && vals[j+1] == vals[j]+1 {
			j++
		}
		switch {
		case j-i >= 2:
			parts = append(parts, strconv.Itoa(vals[i]+offset)+"-"+strconv.Itoa(vals[j]+offset))
		case j-i == 1:
			parts = append(parts, strconv.Itoa(vals[i]+offset), strconv.Itoa(vals[j]+offset))
		default:
			parts = append(parts, strconv.Itoa(vals[i]+offset))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
