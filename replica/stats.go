package replica

import (
	"net"
	"strconv"
	"time"
)

func hostPort(host string, port uint16) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// NodeStats describes one node as the monitor last saw it.
type NodeStats struct {
	Name          string        // host:port
	Role          Role          // as of the last good probe
	Primary       bool          // the node writes go to (the elected primary)
	Healthy       bool          // up, by the fall/rise hysteresis
	Suspect       bool          // breaker open after a statement's connection error, until a probe succeeds
	LagBytes      uint64        // standby: WAL bytes behind the primary
	Lag           time.Duration // standby: time behind the primary
	LSN           uint64        // primary: current WAL position; standby: replay position
	Timeline      uint32        // primary: its timeline
	InFlight      int64         // statements under way on the node's replica pool
	Served        uint64        // replica reads the node served
	OpenConns     int64         // connections the replica pool holds
	Probes        uint64        // probes sent
	ProbeFailures uint64        // probes that failed
	Transitions   uint64        // health changes (up to down or back), bounded by the fall/rise hysteresis
	LastProbe     time.Time     // when the last probe started
}

// Stats returns the state of every node, replicas first in the order given to [New], then
// the primary DSN's hosts.
func (r *Router) Stats() []NodeStats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p := r.primary.Load()
	out := make([]NodeStats, len(r.nodes))
	for i, n := range r.nodes {
		out[i] = NodeStats{
			Name: n.name, Role: n.role, Primary: n == p, Healthy: n.up, Suspect: n.suspect,
			LagBytes: n.lagBytes, Lag: n.lag, LSN: n.lsn, Timeline: n.timeline,
			InFlight: n.inFlight.Load(), Served: n.served.Load(), OpenConns: n.pool.open.Load(),
			Probes: n.probes.Load(), ProbeFailures: n.failures.Load(), Transitions: n.flips.Load(), LastProbe: n.lastProbe,
		}
	}
	return out
}

// Primary returns the name (host:port) of the node the monitor knows as primary, and false
// when it knows none.
func (r *Router) Primary() (string, bool) {
	if p := r.primary.Load(); p != nil {
		return p.name, true
	}
	return "", false
}

// SplitBrain reports whether two nodes on the same timeline claim to be primary; writes then
// fail with [ErrNoPrimary].
func (r *Router) SplitBrain() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.splitBrain
}
