package fleetcron

import (
	"context"
	"time"
)

// Role is what an API token may do.
type Role string

// Roles.
const (
	RoleAdmin Role = "admin" // everything, including run_as and managing tokens
	RoleUser  Role = "user"  // its own jobs, run as the agents' unprivileged user
)

// Token is an API token's record. The secret itself is never stored: only
// its SHA-256, compared in constant time.
type Token struct {
	ID         string    `json:"id"`
	SecretHash string    `json:"secret_sha256"` // never sent to clients: the API answers with its own view
	Name       string    `json:"name,omitempty"`
	Role       Role      `json:"role"`
	Subject    string    `json:"subject"` // the owner of the jobs it creates
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by,omitempty"`
}

// TokenStore keeps API tokens.
type TokenStore interface {
	// CreateToken stores a token. ErrConflict if the id exists.
	CreateToken(ctx context.Context, t *Token) error
	// GetToken returns a token. ErrNotFound.
	GetToken(ctx context.Context, id string) (*Token, error)
	// ListTokens returns every token.
	ListTokens(ctx context.Context) ([]Token, error)
	// DeleteToken removes a token. ErrNotFound.
	DeleteToken(ctx context.Context, id string) error
}
