// Package client is a Go client of fleetcron's HTTP API, used by the
// fleetcron CLI and the end-to-end tests.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

// Client calls one fleetcron API with one token.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client of the API at baseURL (e.g. http://127.0.0.1:8080).
func New(baseURL, token string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, http: &http.Client{Timeout: 60 * time.Second}}
}

// Error is an error answer of the API.
type Error struct {
	Status    int                    `json:"-"`
	Message   string                 `json:"error"`
	Problems  []fleetcron.FieldError `json:"problems,omitempty"`
	RequestID string                 `json:"request_id,omitempty"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "; %s: %s", p.Field, p.Reason)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request %s)", e.RequestID)
	}
	return b.String()
}

// Do sends a request with a JSON body (nil for none) and decodes the JSON
// answer into out (nil to ignore). It returns the answer's headers.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		return resp.Header, e
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// CreateJob creates a job from a request body (the API's JobInput).
func (c *Client) CreateJob(ctx context.Context, in map[string]any) (*fleetcron.Job, error) {
	var j fleetcron.Job
	_, err := c.Do(ctx, "POST", "/jobs", in, &j)
	return &j, err
}

// ListJobs returns one page of jobs and the next cursor.
func (c *Client) ListJobs(ctx context.Context, cursor string, limit int) ([]fleetcron.Job, string, error) {
	var js []fleetcron.Job
	h, err := c.Do(ctx, "GET", "/jobs"+query(cursor, limit), nil, &js)
	if err != nil {
		return nil, "", err
	}
	return js, h.Get("X-Next-Cursor"), nil
}

// GetJob returns a job.
func (c *Client) GetJob(ctx context.Context, id string) (*fleetcron.Job, error) {
	var j fleetcron.Job
	_, err := c.Do(ctx, "GET", "/jobs/"+url.PathEscape(id), nil, &j)
	return &j, err
}

// JobAction posts to /jobs/{id}/{action} (run, pause, resume) or, with
// action "delete", deletes the job. out receives the answer.
func (c *Client) JobAction(ctx context.Context, id, action string, out any) error {
	path := "/jobs/" + url.PathEscape(id)
	if action == "delete" {
		_, err := c.Do(ctx, "DELETE", path, nil, out)
		return err
	}
	_, err := c.Do(ctx, "POST", path+"/"+action, nil, out)
	return err
}

// ListRuns returns one page of a job's runs and the next cursor.
func (c *Client) ListRuns(ctx context.Context, jobID, cursor string, limit int) ([]fleetcron.Run, string, error) {
	var rs []fleetcron.Run
	h, err := c.Do(ctx, "GET", "/jobs/"+url.PathEscape(jobID)+"/runs"+query(cursor, limit), nil, &rs)
	if err != nil {
		return nil, "", err
	}
	return rs, h.Get("X-Next-Cursor"), nil
}

// GetRun returns a run with its output.
func (c *Client) GetRun(ctx context.Context, id string) (*fleetcron.Run, error) {
	var r fleetcron.Run
	_, err := c.Do(ctx, "GET", "/runs/"+url.PathEscape(id), nil, &r)
	return &r, err
}

func query(cursor string, limit int) string {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// URL returns the API's base URL.
func (c *Client) URL() string { return c.base }
