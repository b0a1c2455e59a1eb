package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FleetStats is what /metrics shows of the fleet link (internal/fleet).
type FleetStats struct {
	Connected bool
	// Advances and Taps are the queue depths: counter advances decided
	// while the fleet was away, audit rows not shipped yet.
	Advances, Taps int
	// Oldest is when the oldest queued item was queued; zero when empty.
	Oldest time.Time
}

// SetFleet makes every scrape ask f for the fleet link:
//
//	nfcd_fleet_connected                             gauge, 1 or 0
//	nfcd_fleet_queue_depth{queue="advances"|"taps"}  gauge
//	nfcd_fleet_oldest_unshipped_age_seconds          gauge, 0 when both are empty
//
// nil (no [fleet]) removes them from the output.
func (m *Metrics) SetFleet(f func() FleetStats) {
	if m == nil {
		return
	}
	if f == nil {
		m.fleet.Store(nil)
		return
	}
	m.fleet.Store(&f)
}

var (
	fleetConnectedDesc = prometheus.NewDesc("nfcd_fleet_connected",
		"1 when the fleet database answered and has not failed since, else 0.", nil, nil)
	fleetDepthDesc = prometheus.NewDesc("nfcd_fleet_queue_depth",
		"Items waiting for the fleet database: counter advances and audit rows.", []string{"queue"}, nil)
	fleetAgeDesc = prometheus.NewDesc("nfcd_fleet_oldest_unshipped_age_seconds",
		"Age of the oldest item waiting for the fleet database; 0 when none waits.", nil, nil)
)

// fleetCollector reads the fleet link at scrape time.
type fleetCollector struct{ m *Metrics }

func (c fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- fleetConnectedDesc
	ch <- fleetDepthDesc
	ch <- fleetAgeDesc
}

func (c fleetCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.fleet.Load()
	if f == nil {
		return
	}
	st := (*f)()
	connected, age := 0.0, 0.0
	if st.Connected {
		connected = 1
	}
	if !st.Oldest.IsZero() {
		age = max(time.Since(st.Oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(fleetConnectedDesc, prometheus.GaugeValue, connected)
	ch <- prometheus.MustNewConstMetric(fleetDepthDesc, prometheus.GaugeValue, float64(st.Advances), "advances")
	ch <- prometheus.MustNewConstMetric(fleetDepthDesc, prometheus.GaugeValue, float64(st.Taps), "taps")
	ch <- prometheus.MustNewConstMetric(fleetAgeDesc, prometheus.GaugeValue, age)
}
