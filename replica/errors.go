package replica

import (
	"errors"

	"github.com/pgprovider/pgprovider/pgerror"
)

// ErrNoReplica is returned for a replica read when no replica is eligible (down, suspect,
// lagging beyond the bound, or behind the caller's writes) and the Router was built
// [WithoutFallback].
var ErrNoReplica = errors.New("replica: no eligible replica")

// ErrNoPrimary is returned when a statement bound for the primary, or a new connection,
// waited [WithPrimaryWait] and the monitor still knew no primary: during a failover, or in a
// split brain between two primaries on the same timeline. A new connection also fails with
// it, joined with the last connect error, when its attempts kept failing for the wait while
// the monitor knew a primary (one that refuses new connections but keeps the monitor's). The
// statement was not sent.
var ErrNoPrimary = errors.New("replica: no primary")

// readRetryable reports whether a failed replica read may run again elsewhere: the node or
// connection failed, or the standby cancelled the query on a recovery conflict (40001).
func readRetryable(err error) bool {
	c := pgerror.Classify(err)
	return c.Connection() || c == pgerror.Serialization || c == pgerror.Deadlock
}
