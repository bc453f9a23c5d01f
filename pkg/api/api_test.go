package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/fleetcron/fleetcron/pkg/api"
	"github.com/fleetcron/fleetcron/pkg/fire"
	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/internal/testenv"
	"github.com/fleetcron/fleetcron/pkg/jobs"
	"github.com/fleetcron/fleetcron/pkg/localcron"
	"github.com/fleetcron/fleetcron/pkg/tokens"
)

const adminToken = "test-admin-token-0123456789"

type rig struct {
	srv   *httptest.Server
	api   *api.Server
	env   *testenv.Env
	alice string // user token
	bob   string
}

func newRig(t *testing.T, wrapJobs func(fleetcron.JobStore) fleetcron.JobStore) *rig {
	env := testenv.New(t)
	store := env.Jobs
	if wrapJobs != nil {
		store = wrapJobs(store)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	js := jobs.New(store, env.Runs, env.Blobs, localcron.New(nil), jobs.WithLogger(quiet))
	js.SetFirer(fire.New(store, env.Runs, env.Queue, fire.WithOutcome(js), fire.WithLogger(quiet)))
	ts := tokens.New(env.DB)
	if err := ts.Bootstrap(context.Background(), adminToken); err != nil {
		t.Fatal(err)
	}
	a := api.New(js, ts, env.DB, api.WithLogger(quiet))
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	r := &rig{srv: srv, api: a, env: env}
	r.alice = r.issue(t, "alice")
	r.bob = r.issue(t, "bob")
	return r
}

func (r *rig) issue(t *testing.T, subject string) string {
	var tok struct{ Token string }
	resp := r.do(t, adminToken, "POST", "/tokens", `{"subject":"`+subject+`","role":"user"}`, &tok)
	if resp.StatusCode != 201 || tok.Token == "" {
		t.Fatalf("issue token: %d", resp.StatusCode)
	}
	return tok.Token
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (r *rig) do(t *testing.T, token, method, path, body string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s: content type %q, body %s", method, path, resp.Header.Get("Content-Type"), data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp
}

type apiError struct {
	Error     string                 `json:"error"`
	Problems  []fleetcron.FieldError `json:"problems"`
	RequestID string                 `json:"request_id"`
}

func TestSeedSession(t *testing.T) {
	r := newRig(t, nil)
	var created map[string]any
	resp := r.do(t, r.alice, "POST", "/jobs", `{"executable":"ls -la","schedule":"5 * * * *","type":"command"}`, &created)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, created)
	}
	for k, want := range map[string]any{"status": "scheduled", "executable": "ls -la", "schedule": "5 * * * *", "type": "command"} {
		if created[k] != want {
			t.Fatalf("created[%s] = %v, want %v", k, created[k], want)
		}
	}
	id, _ := created["id"].(string)
	var list []map[string]any
	if resp := r.do(t, r.alice, "GET", "/jobs", "", &list); resp.StatusCode != 200 || len(list) != 1 || list[0]["id"] != id {
		t.Fatalf("list: %d %v", resp.StatusCode, list)
	}
	var got map[string]any
	if resp := r.do(t, r.alice, "GET", "/jobs/"+id, "", &got); resp.StatusCode != 200 || got["id"] != id || got["status"] != "scheduled" {
		t.Fatalf("get: %d %v", resp.StatusCode, got)
	}
}

func TestBadInputNamesFieldAndReason(t *testing.T) {
	r := newRig(t, nil)
	big := strings.Repeat("A", api.MaxBodyBytes)
	cases := []struct {
		name, body string
		status     int
		field      string
	}{
		{"bad cron", `{"executable":"ls","schedule":"5 25 * * *"}`, 400, "schedule"},
		{"unknown type", `{"executable":"ls","schedule":"@daily","type":"lambda"}`, 400, "type"},
		{"missing content", `{"schedule":"@daily","type":"script"}`, 400, "content"},
		{"non-base64 content", `{"schedule":"@daily","type":"script","content":"not base64!"}`, 400, "content"},
		{"empty content", `{"schedule":"@daily","type":"script","content":""}`, 400, "content"},
		{"empty executable", `{"executable":"","schedule":"@daily"}`, 400, "executable"},
		{"unknown time zone", `{"executable":"ls","schedule":"@daily","timezone":"Mars/Base"}`, 400, "timezone"},
		{"unknown field", `{"executable":"ls","schedule":"@daily","colour":"red"}`, 400, "colour"},
		{"wrong type", `{"executable":5,"schedule":"@daily"}`, 400, "executable"},
		{"wrong type nested", `{"executable":"ls","schedule":"@daily","env":{"A":1}}`, 400, "env"},
		{"not json", `{"executable":`, 400, "body"},
		{"empty body", ``, 400, "body"},
		{"array body", `[]`, 400, "body"},
		{"@every seconds", `{"executable":"ls","schedule":"@every 30s"}`, 400, "schedule"},
		{"oversized body", `{"schedule":"@daily","type":"script","content":"` + big + `"}`, 413, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e apiError
			resp := r.do(t, r.alice, "POST", "/jobs", c.body, &e)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %+v", resp.StatusCode, c.status, e)
			}
			if c.field == "" {
				if e.Error == "" {
					t.Fatal("no error message")
				}
				return
			}
			for _, p := range e.Problems {
				if strings.HasPrefix(p.Field, c.field) && p.Reason != "" {
					return
				}
			}
			t.Fatalf("problems %+v lack field %q", e.Problems, c.field)
		})
	}
	var e apiError
	if resp := r.do(t, r.alice, "GET", "/jobs?limit=0", "", &e); resp.StatusCode != 400 || e.Problems[0].Field != "limit" {
		t.Fatalf("bad limit: %d %+v", resp.StatusCode, e)
	}
	if resp := r.do(t, r.alice, "GET", "/jobs?cursor=zzz", "", &e); resp.StatusCode != 400 || e.Problems[0].Field != "cursor" {
		t.Fatalf("bad cursor: %d %+v", resp.StatusCode, e)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	r := newRig(t, nil)
	var e apiError
	for _, p := range []string{"/jobs/nosuchjob", "/jobs/NOT-AN-ID", "/runs/nosuchjob-123", "/runs/garbage", "/jobs/nosuchjob/runs"} {
		if resp := r.do(t, r.alice, "GET", p, "", &e); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
	if resp := r.do(t, r.alice, "GET", "/nowhere", "", &e); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
	resp := r.do(t, r.alice, "PUT", "/jobs", "{}", &e)
	if resp.StatusCode != 405 || !strings.Contains(resp.Header.Get("Allow"), "POST") || e.Error == "" {
		t.Fatalf("PUT /jobs: %d allow %q %+v", resp.StatusCode, resp.Header.Get("Allow"), e)
	}
}

// failingJobs fails every read with an error carrying internal detail.
type failingJobs struct{ fleetcron.JobStore }

func (failingJobs) GetJob(context.Context, string) (*fleetcron.Job, error) {
	return nil, errors.New("dial tcp 10.1.2.3:8000: secret internal detail")
}

func TestServerErrorsHideInternalText(t *testing.T) {
	r := newRig(t, func(s fleetcron.JobStore) fleetcron.JobStore { return failingJobs{s} })
	var e apiError
	resp := r.do(t, r.alice, "GET", "/jobs/abcdefabcdefabcdefab", "", &e)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || strings.Contains(string(body), "secret") || strings.Contains(string(body), "10.1.2.3") || e.RequestID == "" {
		t.Fatalf("500 answer: %d %s", resp.StatusCode, body)
	}
}

// The auth matrix: every route but /healthz wants a valid token; users see
// only their own jobs; only admins choose run_as and manage tokens.
func TestAuthMatrix(t *testing.T) {
	r := newRig(t, nil)
	var job struct{ ID string }
	r.do(t, r.alice, "POST", "/jobs", `{"executable":"true","schedule":"@daily"}`, &job)
	var run struct{ ID string }
	if resp := r.do(t, r.alice, "POST", "/jobs/"+job.ID+"/run", "", &run); resp.StatusCode != 202 {
		t.Fatalf("run now: %d", resp.StatusCode)
	}
	path := func(p string) string {
		p = strings.Replace(p, "/jobs/{id}", "/jobs/"+job.ID, 1)
		p = strings.Replace(p, "/runs/{id}", "/runs/"+run.ID, 1)
		return strings.Replace(p, "/tokens/{id}", "/tokens/abcdefabcdef", 1)
	}
	body := func(rt api.Route) string {
		if rt.Method == "POST" || rt.Method == "PATCH" {
			return `{}`
		}
		return ""
	}
	for _, rt := range r.api.Routes() {
		if rt.Public {
			if resp := r.do(t, "", rt.Method, path(rt.Pattern), "", nil); resp.StatusCode != 200 {
				t.Errorf("%s %s without token: %d, want 200", rt.Method, rt.Pattern, resp.StatusCode)
			}
			continue
		}
		for _, tok := range []string{"", "fct_abcdefabcdef_wrongwrongwrongwrongwrong", "garbage-token-garbage"} {
			var e apiError
			resp := r.do(t, tok, rt.Method, path(rt.Pattern), body(rt), &e)
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s with token %q: %d, want 401", rt.Method, rt.Pattern, tok, resp.StatusCode)
			}
		}
		if strings.Contains(rt.Pattern, "{id}") && !strings.HasPrefix(rt.Pattern, "/tokens") {
			var e apiError
			if resp := r.do(t, r.bob, rt.Method, path(rt.Pattern), body(rt), &e); resp.StatusCode != 404 {
				t.Errorf("bob on alice's %s %s: %d, want 404", rt.Method, rt.Pattern, resp.StatusCode)
			}
		}
		if rt.Admin {
			var e apiError
			if resp := r.do(t, r.alice, rt.Method, path(rt.Pattern), body(rt), &e); resp.StatusCode != 403 {
				t.Errorf("user on %s %s: %d, want 403", rt.Method, rt.Pattern, resp.StatusCode)
			}
		}
	}
	var e apiError
	if resp := r.do(t, r.alice, "POST", "/jobs", `{"executable":"id","schedule":"@daily","run_as":"root"}`, &e); resp.StatusCode != 403 {
		t.Fatalf("user asking root: %d %+v", resp.StatusCode, e)
	}
	if resp := r.do(t, r.alice, "PATCH", "/jobs/"+job.ID, `{"run_as":"root"}`, &e); resp.StatusCode != 403 {
		t.Fatalf("user patching root: %d %+v", resp.StatusCode, e)
	}
	var j map[string]any
	if resp := r.do(t, adminToken, "POST", "/jobs", `{"executable":"id","schedule":"@daily","run_as":"root"}`, &j); resp.StatusCode != 201 || j["run_as"] != "root" {
		t.Fatalf("admin asking root: %d %v", resp.StatusCode, j)
	}
	var all []map[string]any
	r.do(t, adminToken, "GET", "/jobs", "", &all)
	var mine []map[string]any
	r.do(t, r.bob, "GET", "/jobs", "", &mine)
	if len(all) != 2 || len(mine) != 0 {
		t.Fatalf("admin sees %d jobs (want 2), bob sees %d (want 0)", len(all), len(mine))
	}
}

func TestTokensNeverShowSecrets(t *testing.T) {
	r := newRig(t, nil)
	resp := r.do(t, adminToken, "GET", "/tokens", "", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || strings.Contains(string(body), "secret") || strings.Contains(string(body), r.alice[17:]) {
		t.Fatalf("token list leaks: %s", body)
	}
	var list []map[string]any
	_ = json.Unmarshal(body, &list)
	id := strings.Split(r.alice, "_")[1]
	if resp := r.do(t, adminToken, "DELETE", "/tokens/"+id, "", nil); resp.StatusCode != 204 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if resp := r.do(t, r.alice, "GET", "/jobs", "", nil); resp.StatusCode != 401 {
		t.Fatalf("revoked token: %d", resp.StatusCode)
	}
}

func TestPagination(t *testing.T) {
	r := newRig(t, nil)
	for i := range 7 {
		r.do(t, r.alice, "POST", "/jobs", fmt.Sprintf(`{"executable":"echo %d","schedule":"@daily"}`, i), nil)
	}
	seen := map[string]bool{}
	path := "/jobs?limit=3"
	for pages := 0; path != ""; pages++ {
		var page []map[string]any
		resp := r.do(t, r.alice, "GET", path, "", &page)
		for _, j := range page {
			seen[j["id"].(string)] = true
		}
		path = ""
		if next := resp.Header.Get("X-Next-Cursor"); next != "" {
			path = "/jobs?limit=3&cursor=" + next
			if !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
				t.Fatal("no Link header")
			}
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != 7 {
		t.Fatalf("saw %d jobs across pages, want 7", len(seen))
	}
}

type openAPIDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Required []string `json:"required"`
		} `json:"schemas"`
	} `json:"components"`
}

func loadDoc(t *testing.T) openAPIDoc {
	var d openAPIDoc
	if err := json.Unmarshal(api.OpenAPI, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// The OpenAPI document and the router agree, both ways.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	r := newRig(t, nil)
	doc := loadDoc(t)
	var inDoc, inRouter []string
	for p, ops := range doc.Paths {
		for m := range ops {
			if m != "parameters" {
				inDoc = append(inDoc, strings.ToUpper(m)+" "+p)
			}
		}
	}
	for _, rt := range r.api.Routes() {
		inRouter = append(inRouter, rt.Method+" "+rt.Pattern)
	}
	slices.Sort(inDoc)
	slices.Sort(inRouter)
	if !slices.Equal(inDoc, inRouter) {
		t.Fatalf("OpenAPI and router differ:\n doc:    %v\n router: %v", inDoc, inRouter)
	}
	var served map[string]any
	if resp := r.do(t, r.alice, "GET", "/openapi.json", "", &served); resp.StatusCode != 200 || served["openapi"] == nil {
		t.Fatalf("GET /openapi.json: %d", resp.StatusCode)
	}
}

// Real answers carry the fields the document says are required.
func TestResponsesHaveDocumentedFields(t *testing.T) {
	r := newRig(t, nil)
	doc := loadDoc(t)
	check := func(schema string, v map[string]any) {
		t.Helper()
		for _, f := range doc.Components.Schemas[schema].Required {
			if _, ok := v[f]; !ok {
				t.Errorf("%s answer lacks required %q: %v", schema, f, v)
			}
		}
	}
	var job, run, e map[string]any
	r.do(t, r.alice, "POST", "/jobs", `{"executable":"true","schedule":"@daily"}`, &job)
	check("Job", job)
	r.do(t, r.alice, "POST", "/jobs/"+job["id"].(string)+"/run", "", &run)
	check("Run", run)
	r.do(t, r.alice, "POST", "/jobs", `{}`, &e)
	check("Error", e)
	var tok map[string]any
	r.do(t, adminToken, "POST", "/tokens", `{"subject":"carol"}`, &tok)
	check("Token", tok)
}

func TestContentUploadRoundTrip(t *testing.T) {
	r := newRig(t, nil)
	script := "#!/bin/sh\necho hi\n"
	var j map[string]any
	resp := r.do(t, r.alice, "POST", "/jobs", `{"schedule":"@daily","type":"script","executable":"hi.sh","content":"`+
		base64.StdEncoding.EncodeToString([]byte(script))+`"}`, &j)
	if resp.StatusCode != 201 || j["content_size"].(float64) != float64(len(script)) || len(j["content_sha256"].(string)) != 64 {
		t.Fatalf("script job: %d %v", resp.StatusCode, j)
	}
}

// panickingJobs panics on every read, as a bug in a handler's path would.
type panickingJobs struct{ fleetcron.JobStore }

func (panickingJobs) GetJob(context.Context, string) (*fleetcron.Job, error) { panic("bug") }

func TestPanicIsAnInternalErrorNotACrash(t *testing.T) {
	r := newRig(t, func(s fleetcron.JobStore) fleetcron.JobStore { return panickingJobs{s} })
	var e apiError
	resp := r.do(t, r.alice, "GET", "/jobs/abcdefabcdefabcdefab", "", &e)
	if resp.StatusCode != 500 || e.Error != "internal error" || e.RequestID == "" {
		t.Fatalf("panic answered %d %+v", resp.StatusCode, e)
	}
	if resp := r.do(t, "", "GET", "/healthz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("the server did not survive the panic: %d", resp.StatusCode)
	}
}

func TestContentOverTheLimitNamesTheField(t *testing.T) {
	r := newRig(t, nil)
	over := base64.StdEncoding.EncodeToString(make([]byte, fleetcron.MaxContentSize+1))
	var e apiError
	resp := r.do(t, r.alice, "POST", "/jobs", `{"schedule":"@daily","type":"binary","content":"`+over+`"}`, &e)
	if resp.StatusCode != 400 || len(e.Problems) == 0 || e.Problems[0].Field != "content" {
		t.Fatalf("content over the limit: %d %+v", resp.StatusCode, e)
	}
}
