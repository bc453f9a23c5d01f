package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
)

var errNoToken = fmt.Errorf("missing bearer token (Authorization: Bearer <token>): %w", fleetcron.ErrUnauthorized)

// errorBody is the JSON of every error response.
type errorBody struct {
	Error     string                 `json:"error"`
	Problems  []fleetcron.FieldError `json:"problems,omitempty"`
	RequestID string                 `json:"request_id,omitempty"`
}

// errTooLarge marks a body over MaxBodyBytes.
var errTooLarge = errors.New("request body too large")

// writeError maps an error to its status code and JSON body: the one place
// errors become HTTP.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *fleetcron.ValidationError
	var status int
	body := errorBody{}
	switch {
	case errors.As(err, &ve):
		status, body.Error, body.Problems = http.StatusBadRequest, "invalid input", ve.Problems
	case errors.Is(err, errTooLarge):
		status = http.StatusRequestEntityTooLarge
		body.Error = fmt.Sprintf("request body over %d bytes (content is limited to %d bytes before base64)", MaxBodyBytes, fleetcron.MaxContentSize)
	case errors.Is(err, fleetcron.ErrInvalid):
		status, body.Error = http.StatusBadRequest, "invalid input: "+err.Error()
	case errors.Is(err, fleetcron.ErrUnauthorized):
		w.Header().Set("WWW-Authenticate", `Bearer realm="fleetcron"`)
		status, body.Error = http.StatusUnauthorized, publicText(err)
	case errors.Is(err, fleetcron.ErrForbidden):
		status, body.Error = http.StatusForbidden, publicText(err)
	case errors.Is(err, fleetcron.ErrNotFound):
		status, body.Error = http.StatusNotFound, "not found"
	case errors.Is(err, fleetcron.ErrConflict):
		status, body.Error = http.StatusConflict, publicText(err)
	default:
		status, body.Error = http.StatusInternalServerError, "internal error"
		info, _ := r.Context().Value(infoKey{}).(*requestInfo)
		if info != nil {
			body.RequestID = info.id
		}
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
			"request_id", body.RequestID, "err", err)
	}
	writeJSON(w, status, body)
}

// publicText is an error's message for a 4xx answer: our own wrapped
// messages, which name ids and reasons, never credentials.
func publicText(err error) string { return err.Error() }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// decode reads a JSON object into v: unknown fields, wrong types, syntax
// errors, trailing data and oversized bodies are answered with the field and
// the reason.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var mbe *http.MaxBytesError
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case err == nil:
	case errors.As(err, &mbe):
		return errTooLarge
	case errors.Is(err, io.EOF):
		return fleetcron.Invalid("body", "empty: want a JSON object")
	case errors.As(err, &te):
		field := strings.TrimPrefix(te.Field, "Input.") // the embedded jobs.Input is not part of the wire name
		if field == "" {
			return fleetcron.Invalid("body", "want a JSON object, got %s", te.Value)
		}
		return fleetcron.Invalid(field, "must be %s, got %s", jsonKind(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return fleetcron.Invalid("body", "not valid JSON (at byte %d)", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fleetcron.Invalid(name, "unknown field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fleetcron.Invalid("body", "truncated JSON")
	default:
		return fleetcron.Invalid("body", "%v", err)
	}
	if dec.More() {
		return fleetcron.Invalid("body", "trailing data after the JSON object")
	}
	if _, err := io.Copy(io.Discard, r.Body); errors.As(err, &mbe) {
		return errTooLarge
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	}
	return "a " + k
}
