package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// missing stands for a fire that never started: it sorts after every
// measured lateness.
const missing = time.Duration(math.MaxInt64)

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	switch {
	case d == missing:
		return "never"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func kb(bytes float64) string {
	if bytes >= 1<<20 {
		return fmt.Sprintf("%.1f MB", bytes/(1<<20))
	}
	return fmt.Sprintf("%.1f KB", bytes/1024)
}
