package runner

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func write(t *testing.T, tl *tail, s string) {
	t.Helper()
	if n, err := tl.Write([]byte(s)); n != len(s) || err != nil {
		t.Fatalf("Write(%q) = %d, %v", s, n, err)
	}
}

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"nothing", 4, nil, ""},
		{"under the cap", 4, []string{"ab", "c"}, "abc"},
		{"exactly the cap", 4, []string{"ab", "cd"}, "abcd"},
		{"one write of exactly the cap", 4, []string{"abcd"}, "abcd"},
		{"fill then wrap", 4, []string{"abcd", "ef"}, "cdef"},
		{"straddling the fill", 5, []string{"abc", "defg"}, "cdefg"},
		{"write larger than the cap", 5, []string{"ab", "0123456789"}, "56789"},
		{"larger write after a wrap", 3, []string{"ab", "cd", "wxyz"}, "xyz"},
		{"wrap to index zero", 4, []string{"abc", "def", "gh"}, "efgh"},
		{"many small writes", 4, strings.Split(strings.Repeat("abcdefghijklmnopqrstuvwxyz", 4), ""), "wxyz"},
		{"empty writes", 2, []string{"", "a", "", "b", "c", ""}, "bc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTail(tc.max)
			total := 0
			for _, w := range tc.writes {
				write(t, tl, w)
				total += len(w)
			}
			if got := string(tl.Bytes()); got != tc.want {
				t.Errorf("tail %q, want %q", got, tc.want)
			}
			if tl.Total() != int64(total) {
				t.Errorf("total %d, want %d", tl.Total(), total)
			}
		})
	}
}

// TestTailMatchesReference checks random write sequences against the
// obvious implementation: keep everything, return the last max bytes.
func TestTailMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		limit := 1 + rng.IntN(64)
		tl := newTail(limit)
		var all []byte
		for range rng.IntN(40) {
			p := make([]byte, rng.IntN(3*limit))
			for i := range p {
				p[i] = byte(rng.IntN(256))
			}
			write(t, tl, string(p))
			all = append(all, p...)
			want := all[max(0, len(all)-limit):]
			if got := tl.Bytes(); !bytes.Equal(got, want) {
				t.Fatalf("limit %d after %d bytes: tail %x, want %x", limit, len(all), got, want)
			}
		}
		if tl.Total() != int64(len(all)) {
			t.Fatalf("total %d, want %d", tl.Total(), len(all))
		}
	}
}
