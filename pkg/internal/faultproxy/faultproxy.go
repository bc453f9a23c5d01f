// Package faultproxy is a loopback HTTP proxy for tests that answers a share
// of requests with a fault instead of the emulator behind it: a 500, a 503,
// a throttling error, or a reset connection — either before the request
// reaches the emulator, or after (the write happened, its answer is lost,
// the client retries). Faults are drawn from a seeded generator, so a run is
// repeatable, and counted.
package faultproxy

import (
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Fault kinds.
const (
	Error500Before = "500-before"
	Error503Before = "503-before"
	ThrottleBefore = "throttle-before"
	ResetBefore    = "reset-before"
	Error500After  = "500-after"
	ResetAfter     = "reset-after"
)

// Proxy injects faults in front of a target.
type Proxy struct {
	URL   string
	share float64
	after bool

	mu     sync.Mutex
	rng    *rand.Rand
	counts map[string]int
	total  int
	calls  map[string]int
}

// Start serves a proxy to target until the test ends. share is the part of
// requests that get a fault; after allows faults after forwarding.
func Start(t testing.TB, target string, share float64, after bool, seed uint64) *Proxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{share: share, after: after, rng: rand.New(rand.NewPCG(seed, 7)), counts: map[string]int{}, calls: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a client canceling its long poll is not news
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.count(r)
		switch fault := p.draw(); fault {
		case "":
			rp.ServeHTTP(w, r)
		case Error500Before:
			http.Error(w, "injected", http.StatusInternalServerError)
		case Error503Before:
			http.Error(w, "injected", http.StatusServiceUnavailable)
		case ThrottleBefore:
			throttle(w, r)
		case ResetBefore:
			reset(w)
		case Error500After:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "injected after the write", http.StatusInternalServerError)
		case ResetAfter:
			rp.ServeHTTP(httptest.NewRecorder(), r)
			reset(w)
		}
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *Proxy) draw() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total++
	if p.rng.Float64() >= p.share {
		return ""
	}
	kinds := []string{Error500Before, Error503Before, ThrottleBefore, ResetBefore}
	if p.after {
		kinds = append(kinds, Error500After, ResetAfter)
	}
	k := kinds[p.rng.IntN(len(kinds))]
	p.counts[k]++
	return k
}

// throttle answers as the service would when throttling: DynamoDB's JSON
// ThrottlingException, else a 503 SlowDown.
func throttle(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_") {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}`)
		return
	}
	http.Error(w, "SlowDown", http.StatusServiceUnavailable)
}

func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "injected", http.StatusBadGateway)
		return
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		conn.Close()
	}
}

// Operation names the AWS API operation of a request: the X-Amz-Target of
// JSON protocols (DynamoDB, SQS), else service and method from the path
// (S3, Scheduler's REST API).
func Operation(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		svc, op, _ := strings.Cut(t, ".")
		switch {
		case strings.HasPrefix(svc, "DynamoDB"):
			svc = "dynamodb"
		case strings.HasPrefix(svc, "AmazonSQS"):
			svc = "sqs"
		case strings.HasPrefix(svc, "secretsmanager"):
			svc = "secretsmanager"
		}
		return svc + "." + op
	}
	if strings.HasPrefix(r.URL.Path, "/schedules") || strings.HasPrefix(r.URL.Path, "/schedule-groups") {
		return "scheduler." + r.Method + " " + strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
	}
	return "s3." + r.Method
}

func (p *Proxy) count(r *http.Request) {
	p.mu.Lock()
	p.calls[Operation(r)]++
	p.mu.Unlock()
}

// Calls returns the requests seen so far by operation.
func (p *Proxy) Calls() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.calls))
	for k, v := range p.calls {
		out[k] = v
	}
	return out
}

// Report says how many requests went through and which faults they got.
func (p *Proxy) Report() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var kinds []string
	faults := 0
	for k, n := range p.counts {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		faults += n
	}
	sort.Strings(kinds)
	return fmt.Sprintf("%d requests, %d faults (%.1f%%): %s", p.total, faults,
		100*float64(faults)/float64(max(p.total, 1)), strings.Join(kinds, " "))
}

// Faults returns the number of faults injected.
func (p *Proxy) Faults() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.counts {
		n += c
	}
	return n
}
