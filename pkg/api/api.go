// Package api is fleetcron's HTTP API (JSON over HTTPS): jobs, runs, agents
// and tokens over the job service. The same handler serves the embedded dev
// server and, behind API Gateway, the API Lambda. Errors are mapped to status
// codes in one place (writeError); a 5xx body never carries internal text.
package api

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/jobs"
	"github.com/fleetcron/fleetcron/pkg/tokens"
)

// OpenAPI is the API's OpenAPI 3 document, served at GET /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// Limits of requests.
const (
	// MaxBodyBytes bounds a request body: base64 of the largest content
	// plus room for the other fields.
	MaxBodyBytes = (fleetcron.MaxContentSize+2)/3*4 + 64<<10
	// AgentsWindow is how recently an agent must have reported to be listed.
	AgentsWindow = 10 * time.Minute
)

// Server is the API.
type Server struct {
	jobs   *jobs.Service
	tokens *tokens.Service
	agents fleetcron.AgentStore
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithClock sets the clock.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New returns the API handler.
func New(js *jobs.Service, ts *tokens.Service, agents fleetcron.AgentStore, opts ...Option) *Server {
	s := &Server{jobs: js, tokens: ts, agents: agents, log: slog.Default(), now: time.Now, mux: http.NewServeMux()}
	for _, o := range opts {
		o(s)
	}
	allowed := map[string][]string{}
	for _, rt := range s.Routes() {
		s.mux.Handle(rt.Method+" "+rt.Pattern, s.wrap(rt))
		allowed[rt.Pattern] = append(allowed[rt.Pattern], rt.Method)
	}
	for pattern, methods := range allowed {
		allow := strings.Join(methods, ", ")
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " not allowed; allowed: " + allow})
		})
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such endpoint: " + r.URL.Path})
	})
	return s
}

// ServeHTTP serves the API with request ids, panic recovery and access logs.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := r.Header.Get("X-Request-Id")
	if reqID == "" || len(reqID) > 64 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		reqID = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", reqID)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	info := &requestInfo{id: reqID}
	ctx := context.WithValue(r.Context(), infoKey{}, info)
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in handler", "request_id", reqID, "panic", p, "stack", string(debug.Stack()))
			if !rec.wrote {
				writeJSON(rec, http.StatusInternalServerError, errorBody{Error: "internal error", RequestID: reqID})
			}
		}
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(ctx, level, "request", "method", r.Method, "route", info.route, "path", r.URL.Path,
			"status", rec.status, "duration_ms", time.Since(start).Milliseconds(), "caller", info.caller, "request_id", reqID)
	}()
	s.mux.ServeHTTP(rec, r.WithContext(ctx))
}

// Route is one endpoint.
type Route struct {
	Method, Pattern string
	Public          bool // no token needed
	Admin           bool // admin role needed
	handle          func(w http.ResponseWriter, r *http.Request, c jobs.Caller) error
}

// Routes is the route table; the OpenAPI test reads it.
func (s *Server) Routes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/healthz", Public: true, handle: s.healthz},
		{Method: "GET", Pattern: "/openapi.json", handle: s.openapi},
		{Method: "POST", Pattern: "/jobs", handle: s.createJob},
		{Method: "GET", Pattern: "/jobs", handle: s.listJobs},
		{Method: "GET", Pattern: "/jobs/{id}", handle: s.jobAnswer(s.jobs.Get)},
		{Method: "PATCH", Pattern: "/jobs/{id}", handle: s.updateJob},
		{Method: "DELETE", Pattern: "/jobs/{id}", handle: s.jobAnswer(s.jobs.Delete)},
		{Method: "POST", Pattern: "/jobs/{id}/run", handle: s.runJob},
		{Method: "POST", Pattern: "/jobs/{id}/pause", handle: s.jobAnswer(s.jobs.Pause)},
		{Method: "POST", Pattern: "/jobs/{id}/resume", handle: s.jobAnswer(s.jobs.Resume)},
		{Method: "GET", Pattern: "/jobs/{id}/runs", handle: s.listRuns},
		{Method: "GET", Pattern: "/runs/{id}", handle: s.getRun},
		{Method: "GET", Pattern: "/runs/{id}/output", handle: s.getRunOutput},
		{Method: "GET", Pattern: "/agents", handle: s.listAgents},
		{Method: "POST", Pattern: "/tokens", Admin: true, handle: s.createToken},
		{Method: "GET", Pattern: "/tokens", Admin: true, handle: s.listTokens},
		{Method: "DELETE", Pattern: "/tokens/{id}", Admin: true, handle: s.deleteToken},
	}
}

func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
			info.route = rt.Method + " " + rt.Pattern
		}
		var c jobs.Caller
		if !rt.Public {
			var err error
			c, err = s.authenticate(r)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if rt.Admin && !c.Admin {
				s.writeError(w, r, fmt.Errorf("this endpoint is for admins: %w", fleetcron.ErrForbidden))
				return
			}
		}
		if err := rt.handle(w, r, c); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) authenticate(r *http.Request) (jobs.Caller, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return jobs.Caller{}, errNoToken
	}
	c, _, err := s.tokens.Authenticate(r.Context(), strings.TrimSpace(tok))
	if err != nil {
		return jobs.Caller{}, err
	}
	if info, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		info.caller = c.ID
	}
	return c, nil
}

type infoKey struct{}

type requestInfo struct {
	id     string
	route  string
	caller string
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}
