// Package tokens issues and checks fleetcron's API tokens. A token reads
// fct_<id>_<secret>; the store keeps the id and the SHA-256 of the secret,
// never the secret, and Authenticate compares hashes in constant time. Tokens
// are never logged.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/fleetcron/fleetcron/pkg/fleetcron"
	"github.com/fleetcron/fleetcron/pkg/jobs"
)

// Prefix starts every token fleetcron issues.
const Prefix = "fct_"

var (
	idRe      = regexp.MustCompile(`^[a-z0-9]{12}$`)
	subjectRe = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)
	errBad    = fmt.Errorf("invalid or unknown API token: %w", fleetcron.ErrUnauthorized)
)

// Service issues and checks tokens.
type Service struct {
	store fleetcron.TokenStore
	now   func() time.Time
}

// New returns a token service over store.
func New(store fleetcron.TokenStore) *Service { return &Service{store: store, now: time.Now} }

func hash(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// split parses fct_<id>_<secret>.
func split(token string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(token, Prefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	return id, secret, ok && idRe.MatchString(id) && len(secret) >= 20
}

// Issue creates a token for subject with role and returns the full token
// string, shown once; only its hash is stored.
func (s *Service) Issue(ctx context.Context, creator, name string, role fleetcron.Role, subject string) (string, *fleetcron.Token, error) {
	v := &fleetcron.ValidationError{}
	if role != fleetcron.RoleAdmin && role != fleetcron.RoleUser {
		v.Add("role", "unknown role %q: want admin or user", role)
	}
	if !subjectRe.MatchString(subject) {
		v.Add("subject", "must be 1-64 of letters, digits and . _ @ -")
	}
	if len(name) > 100 {
		v.Add("name", "longer than 100 bytes")
	}
	if err := v.Err(); err != nil {
		return "", nil, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, fmt.Errorf("issue token: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	t := &fleetcron.Token{ID: fleetcron.NewID()[:12], SecretHash: hash(secret), Name: name, Role: role,
		Subject: subject, CreatedAt: s.now().UTC(), CreatedBy: creator}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return "", nil, fmt.Errorf("issue token: %w", err)
	}
	return Prefix + t.ID + "_" + secret, t, nil
}

// Bootstrap makes sure the admin token given as the full string exists
// (dev mode's FLEETCRON_TOKEN, the deployment's bootstrap secret). A string
// not in fct_ form gets an id derived from its hash, so restarts find it.
func (s *Service) Bootstrap(ctx context.Context, token string) error {
	id, secret, ok := split(token)
	if !ok {
		if len(token) < 16 {
			return fleetcron.Invalid("token", "a bootstrap token must be at least 16 characters")
		}
		id, secret = hash("fleetcron-bootstrap:" + token)[:12], token
	}
	existing, err := s.store.GetToken(ctx, id)
	switch {
	case err == nil:
		if subtle.ConstantTimeCompare([]byte(existing.SecretHash), []byte(hash(secret))) != 1 || existing.Role != fleetcron.RoleAdmin {
			return fmt.Errorf("bootstrap token: a different token with id %s exists", id)
		}
		return nil
	case !errors.Is(err, fleetcron.ErrNotFound):
		return fmt.Errorf("bootstrap token: %w", err)
	}
	t := &fleetcron.Token{ID: id, SecretHash: hash(secret), Name: "bootstrap admin", Role: fleetcron.RoleAdmin,
		Subject: "admin", CreatedAt: s.now().UTC(), CreatedBy: "bootstrap"}
	if err := s.store.CreateToken(ctx, t); err != nil && !errors.Is(err, fleetcron.ErrConflict) {
		return fmt.Errorf("bootstrap token: %w", err)
	}
	return nil
}

// Authenticate checks a bearer token and returns who it speaks for. Every
// failure is the same ErrUnauthorized, saying nothing of which part failed.
func (s *Service) Authenticate(ctx context.Context, token string) (jobs.Caller, *fleetcron.Token, error) {
	id, secret, ok := split(token)
	if !ok {
		id, secret = hash("fleetcron-bootstrap:" + token)[:12], token
	}
	t, err := s.store.GetToken(ctx, id)
	if err != nil {
		if errors.Is(err, fleetcron.ErrNotFound) {
			// Spend the same work as a real compare.
			subtle.ConstantTimeCompare([]byte(hash(secret)), []byte(hash(secret)))
			return jobs.Caller{}, nil, errBad
		}
		return jobs.Caller{}, nil, fmt.Errorf("authenticate: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(t.SecretHash), []byte(hash(secret))) != 1 {
		return jobs.Caller{}, nil, errBad
	}
	return jobs.Caller{ID: t.Subject, Admin: t.Role == fleetcron.RoleAdmin}, t, nil
}

// List returns every token record (hashes are not part of the API's view).
func (s *Service) List(ctx context.Context) ([]fleetcron.Token, error) {
	ts, err := s.store.ListTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// Revoke deletes a token.
func (s *Service) Revoke(ctx context.Context, id string) error {
	if !idRe.MatchString(id) {
		return fmt.Errorf("token %q: %w", id, fleetcron.ErrNotFound)
	}
	if err := s.store.DeleteToken(ctx, id); err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}
