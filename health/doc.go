// Package health serves Kubernetes liveness and readiness probes for a service that uses
// pgprovider.
//
//	h := health.New(db,
//		health.WithListener(listener),
//		health.WithReplicas(nodes),
//	)
//	mux.Handle("/livez", h.Liveness())
//	mux.Handle("/readyz", h.Readiness())
//
// Liveness never touches the database: a database outage must make pods unready (traffic
// moves away), never restart every pod at once. It answers 200 unless a check registered with
// [WithLivenessCheck] fails.
//
// Readiness answers 200 when every critical check passes and 503 otherwise, with a JSON body
// naming each check, its status, duration and error. The built-in checks are:
//
//   - primary: db.PingContext within [WithTimeout] (default 2 s), which also fails while the
//     pool is exhausted for longer than the timeout;
//   - replicas ([WithReplicas]): the role, health and lag of each node, critical only when
//     [WithMinReplicas] asks for healthy replicas;
//   - listener ([WithListener]): a listen.Listener is connected (anything with a
//     Stats() listen.Stats method);
//   - any [CheckFunc] added with [WithCheck] (critical) or [WithInfo] (reported only).
//
// Every check runs concurrently under one deadline, so a probe answers within the timeout
// even when a check ignores its context. The result is cached for [WithCacheTTL] (default
// 1 s) and concurrent probes share one evaluation, so a probe storm (many pods, many probes,
// a load balancer) costs the database at most one ping per TTL.
package health
