package ws

import "fmt"

// Metrics is what the server reports to monitoring (internal/metrics
// implements it). Calls never block.
type Metrics interface {
	// SetWSClients sets the number of connected clients.
	SetWSClients(n int)
	// WSDropped counts a message dropped because a client's queue was full.
	WSDropped()
	// WSSlowClientClosed counts a client closed for staying behind.
	WSSlowClientClosed()
}

type nopMetrics struct{}

func (nopMetrics) SetWSClients(int)    {}
func (nopMetrics) WSDropped()          {}
func (nopMetrics) WSSlowClientClosed() {}

// originSet normalizes allowed origins, refusing any that is not a
// serialized origin.
func originSet(list []string) (map[string]struct{}, error) {
	origins := make(map[string]struct{}, len(list))
	for _, o := range list {
		n, ok := normalizeOrigin(o)
		if !ok {
			return nil, fmt.Errorf("ws: invalid allowed origin %q", o)
		}
		origins[n] = struct{}{}
	}
	return origins, nil
}

// SetAllowedOrigins replaces Config.AllowedOrigins while the server runs (a
// configuration reload). Connected clients stay connected whatever their
// origin; the new list decides the connections and preflights that follow.
// An invalid origin changes nothing and is reported.
func (s *Server) SetAllowedOrigins(list []string) error {
	origins, err := originSet(list)
	if err != nil {
		return err
	}
	s.origins.Store(&origins)
	return nil
}
