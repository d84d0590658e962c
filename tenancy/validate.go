package tenancy

import (
	"fmt"
	"strings"
)

// maxIdentifier is PostgreSQL's identifier limit (NAMEDATALEN-1 bytes); longer names are
// silently truncated by the server, so two tenants could share one schema.
const maxIdentifier = 63

// ValidateTenant reports whether id is an acceptable tenant id: 1 to 63 bytes of ASCII
// letters, digits, '_' and '-'. Everything else is rejected, in particular quotes, commas,
// spaces (`a, public`), '$' (`$user`), the reserved pg_ prefix (`pg_catalog`), NUL and non-ASCII characters (policy: a byte length
// that differs from the character count is a classic source of truncation collisions, so
// non-ASCII ids must be mapped by the application, for example to a UUID or a hash). The error
// matches [ErrInvalidTenant].
func ValidateTenant(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidTenant)
	}
	if len(id) > maxIdentifier {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidTenant, maxIdentifier)
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			return fmt.Errorf("%w: byte %d is not an ASCII letter, digit, '_' or '-'", ErrInvalidTenant, i)
		}
	}
	if len(id) >= 3 && strings.EqualFold(id[:3], "pg_") {
		return fmt.Errorf("%w: the pg_ prefix is reserved", ErrInvalidTenant)
	}
	return nil
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// validateSchema checks a schema name a tenant maps to: non-empty, at most 63 bytes (checked
// after the prefix, so that two tenants never collide after truncation), no NUL, and not a
// system or shared schema name.
func validateSchema(name string) error {
	if name == "" {
		return fmt.Errorf("%w: maps to an empty schema name", ErrInvalidTenant)
	}
	if len(name) > maxIdentifier {
		return fmt.Errorf("%w: schema name longer than %d bytes", ErrInvalidTenant, maxIdentifier)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("%w: schema name contains NUL", ErrInvalidTenant)
	}
	l := strings.ToLower(name)
	if strings.HasPrefix(l, "pg_") || l == "public" || l == "information_schema" || strings.Contains(l, "$user") {
		return fmt.Errorf("%w: maps to reserved schema %q", ErrInvalidTenant, name)
	}
	return nil
}
