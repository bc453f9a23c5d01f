package api

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/jobs"
)

// jobRequest is the body of POST /jobs and PATCH /jobs/{id}: the job
// service's input with content as base64 text.
type jobRequest struct {
	jobs.Input
	Content *string `json:"content,omitempty"`
}

func (req *jobRequest) input() (jobs.Input, error) {
	in := req.Input
	in.Content = nil
	if req.Content != nil {
		if *req.Content == "" {
			return in, fleetcron.Invalid("content", "must not be empty")
		}
		if base64.StdEncoding.DecodedLen(len(*req.Content)) > fleetcron.MaxContentSize+3 {
			return in, fleetcron.Invalid("content", "over the limit of %d bytes (before base64)", fleetcron.MaxContentSize)
		}
		b, err := base64.StdEncoding.DecodeString(*req.Content)
		if err != nil {
			return in, fleetcron.Invalid("content", "not valid base64 (standard alphabet, padded): %v", err)
		}
		in.Content = b
	}
	return in, nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ jobs.Caller) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request, _ jobs.Caller) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(OpenAPI)
	return nil
}

func (s *Server) createJob(w http.ResponseWriter, r *http.Request, c jobs.Caller) error {
	var req jobRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	in, err := req.input()
	if err != nil {
		return err
	}
	j, err := s.jobs.Create(r.Context(), c, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/jobs/"+j.ID)
	writeJSON(w, http.StatusCreated, j)
	return nil
}

// page reads ?limit= and ?cursor=.
func page(r *http.Request) (cursor string, limit int, err error) {
	q := r.URL.Query()
	if l := q.Get("limit"); l != "" {
		limit, err = strconv.Atoi(l)
		if err != nil || limit < 1 || limit > fleetcron.MaxPageSize {
			return "", 0, fleetcron.Invalid("limit", "must be a whole number from 1 to %d", fleetcron.MaxPageSize)
		}
	}
	return q.Get("cursor"), limit, nil
}

// nextPage announces the next page of a list: the body stays a JSON array
// (the seed's shape); the cursor travels in X-Next-Cursor and a Link header.
func nextPage(w http.ResponseWriter, r *http.Request, next string, limit int) {
	if next == "" {
		return
	}
	q := url.Values{"cursor": {next}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	w.Header().Set("X-Next-Cursor", next)
	w.Header().Set("Link", "<"+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, c jobs.Caller) error {
	cursor, limit, err := page(r)
	if err != nil {
		return err
	}
	p, err := s.jobs.List(r.Context(), c, cursor, limit)
	if err != nil {
		return err
	}
	if p.Jobs == nil {
		p.Jobs = []fleetcron.Job{}
	}
	nextPage(w, r, p.Next, limit)
	writeJSON(w, http.StatusOK, p.Jobs)
	return nil
}

// jobAnswer serves the routes that apply one job-service call to the job in
// the path and answer the job: get, delete, pause, resume.
func (s *Server) jobAnswer(op func(context.Context, jobs.Caller, string) (*fleetcron.Job, error)) func(http.ResponseWriter, *http.Request, jobs.Caller) error {
	return func(w http.ResponseWriter, r *http.Request, c jobs.Caller) error {
		j, err := op(r.Context(), c, r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, j)
		return nil
	}
}

func (s *Server) updateJob(w http.ResponseWriter, r *http.Request, c jobs.Caller) error {
	var req jobRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	in, err := req.input()
	if err != nil {
		return err
	}
	j, err := s.jobs.Update(r.Context(), c, r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

func (s *Server) runJob(w http.ResponseWriter, r *http.Request, c jobs.Caller) error {
	run, err := s.jobs.RunNow(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/runs/"+run.ID)
	writeJSON(w, http.StatusAccepted, run)
	return nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, c jobs.Caller) error {
	cursor, limit, err := page(r)
	if err != nil {
		return err
	}
	p, err := s.jobs.Runs(r.Context(), c, r.PathValue("id"), cursor, limit)
	if err != nil {
		return err
	}
	if p.Runs == nil {
		p.Runs = []fleetcron.Run{}
	}
	nextPage(w, r, p.Next, limit)
	writeJSON(w, http.StatusOK, p.Runs)
	return nil
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, c jobs.Caller) error {
	run, err := s.jobs.Run(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) getRunOutput(w http.ResponseWriter, r *http.Request, c jobs.Caller) error {
	rc, err := s.jobs.RunOutput(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.Copy(w, rc)
	return nil
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, _ jobs.Caller) error {
	as, err := s.agents.ListAgents(r.Context(), s.now().Add(-AgentsWindow))
	if err != nil {
		return err
	}
	if as == nil {
		as = []fleetcron.Agent{}
	}
	writeJSON(w, http.StatusOK, as)
	return nil
}

// tokenView is a token as the API shows it: never the secret or its hash.
type tokenView struct {
	ID        string         `json:"id"`
	Name      string         `json:"name,omitempty"`
	Role      fleetcron.Role `json:"role"`
	Subject   string         `json:"subject"`
	CreatedAt time.Time      `json:"created_at"`
	CreatedBy string         `json:"created_by,omitempty"`
	// Token is the full token, returned once by POST /tokens.
	Token string `json:"token,omitempty"`
}

func viewOf(t *fleetcron.Token) tokenView {
	return tokenView{ID: t.ID, Name: t.Name, Role: t.Role, Subject: t.Subject, CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy}
}

type tokenRequest struct {
	Name    string         `json:"name"`
	Role    fleetcron.Role `json:"role"`
	Subject string         `json:"subject"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, c jobs.Caller) error {
	var req tokenRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = fleetcron.RoleUser
	}
	secret, t, err := s.tokens.Issue(r.Context(), c.ID, req.Name, req.Role, req.Subject)
	if err != nil {
		return err
	}
	v := viewOf(t)
	v.Token = secret
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ jobs.Caller) error {
	ts, err := s.tokens.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]tokenView, 0, len(ts))
	for i := range ts {
		out = append(out, viewOf(&ts[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request, _ jobs.Caller) error {
	if err := s.tokens.Revoke(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
