package emulator

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// LostAnswers is a loopback proxy in front of an emulator that forwards the
// first attempt of every request it selects, then answers it with a 500 as
// if the emulator's answer had been lost on the way back: the SDK retries,
// and the retry meets the effect of its own first attempt.
type LostAnswers struct {
	URL  string
	lost atomic.Int64
}

// LoseFirstAnswers serves a LostAnswers proxy to target until the test
// ends; selected says which requests lose their first answer (nil: all).
// Attempts are told apart by the SDK's amz-sdk-request header.
func LoseFirstAnswers(t testing.TB, target string, selected func(*http.Request) bool) *LostAnswers {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &LostAnswers{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := strings.HasPrefix(r.Header.Get("Amz-Sdk-Request"), "attempt=1;")
		if !first || (selected != nil && !selected(r)) {
			rp.ServeHTTP(w, r)
			return
		}
		rp.ServeHTTP(httptest.NewRecorder(), r)
		p.lost.Add(1)
		http.Error(w, "injected: the answer was lost", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Lost returns how many answers the proxy dropped.
func (p *LostAnswers) Lost() int64 { return p.lost.Load() }

// DynamoDBWrite selects DynamoDB's writes (for LoseFirstAnswers).
func DynamoDBWrite(r *http.Request) bool {
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	switch op {
	case "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem":
		return true
	}
	return false
}

// RESTWrite selects the writes of a REST protocol (S3, Scheduler).
func RESTWrite(r *http.Request) bool {
	return r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodDelete
}
