// Package prom is a Prometheus collector for shmring rings: depth, messages,
// endpoints alive and dead, and each role's counters, read at every scrape
// with package metrics. It is the only package of the module that imports
// the Prometheus client library.
//
//	reg.MustRegister(prom.NewCollector(ring, metrics.Named("other")))
//
// Every metric has the label ring (the ring's name as shmring.Info gives it;
// an anonymous ring's is a memfd description, so give such rings a
// distinguishing name with NewCollectorNamed); role-level metrics also have
// the label role ("producer" or "consumer"). A ring that cannot be read at a
// scrape reports shmring_up 0 and nothing else.
package prom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shmring/shmring/metrics"
)

var (
	ringLabels = []string{"ring"}
	roleLabels = []string{"ring", "role"}

	upDesc       = prometheus.NewDesc("shmring_up", "1 when the ring could be read at this scrape, else 0.", ringLabels, nil)
	capacityDesc = prometheus.NewDesc("shmring_capacity_bytes", "Bytes of the ring's data area.", ringLabels, nil)
	depthDesc    = prometheus.NewDesc("shmring_depth", "Bytes committed and not yet released (SPSC), or slots claimed by producers and not yet by consumers (MPMC).", ringLabels, nil)
	messagesDesc = prometheus.NewDesc("shmring_messages", "Messages in the ring.", ringLabels, nil)
	closedDesc   = prometheus.NewDesc("shmring_closed", "1 once the stream has ended, else 0.", ringLabels, nil)
	orphansDesc  = prometheus.NewDesc("shmring_orphans", "Messages of dead MPMC consumers waiting for adoption.", ringLabels, nil)
	aliveDesc    = prometheus.NewDesc("shmring_endpoints_alive", "Endpoints of the role whose process holds them.", roleLabels, nil)
	deadDesc     = prometheus.NewDesc("shmring_endpoints_dead", "MPMC participant entries of the role whose process died, not yet reaped.", roleLabels, nil)

	counters = []struct {
		desc *prometheus.Desc
		get  func(r metrics.Role) uint64
	}{
		{prometheus.NewDesc("shmring_messages_sent_total", "Messages the role's endpoints committed.", roleLabels, nil),
			func(r metrics.Role) uint64 { return r.Stats.MsgsSent }},
		{prometheus.NewDesc("shmring_sent_bytes_total", "Payload bytes the role's endpoints committed.", roleLabels, nil),
			func(r metrics.Role) uint64 { return r.Stats.BytesSent }},
		{prometheus.NewDesc("shmring_messages_received_total", "Messages the role's endpoints released.", roleLabels, nil),
			func(r metrics.Role) uint64 { return r.Stats.MsgsReceived }},
		{prometheus.NewDesc("shmring_received_bytes_total", "Payload bytes the role's endpoints released.", roleLabels, nil),
			func(r metrics.Role) uint64 { return r.Stats.BytesReceived }},
		{prometheus.NewDesc("shmring_full_waits_total", "Calls of the role that waited for room.", roleLabels, nil),
			func(r metrics.Role) uint64 { return r.Stats.FullWaits }},
		{prometheus.NewDesc("shmring_empty_waits_total", "Calls of the role that waited for a message.", roleLabels, nil),
			func(r metrics.Role) uint64 { return r.Stats.EmptyWaits }},
		{prometheus.NewDesc("shmring_sleeps_total", "Futex (or semaphore) sleeps of the role's waits.", roleLabels, nil),
			func(r metrics.Role) uint64 { return r.Stats.Sleeps }},
		{prometheus.NewDesc("shmring_wakes_total", "Wake-ups the role's endpoints issued.", roleLabels, nil),
			func(r metrics.Role) uint64 { return r.Stats.Wakes }},
		{prometheus.NewDesc("shmring_reaped_total", "Dead MPMC participants the role's endpoints reaped.", roleLabels, nil),
			func(r metrics.Role) uint64 { return r.Stats.Reaped }},
	}
)

// Collector collects the metrics of a fixed set of rings. It is safe for
// concurrent scrapes.
type Collector struct {
	sources []metrics.Source
	names   []string // the ring label of each source; "" for Info's name
}

// NewCollector returns a collector of sources, each labelled with the name
// its Info gives.
func NewCollector(sources ...metrics.Source) *Collector {
	return &Collector{sources: sources, names: make([]string, len(sources))}
}

// NewCollectorNamed returns a collector of the sources in m, each labelled
// with its key: for anonymous rings, whose own names say little.
func NewCollectorNamed(m map[string]metrics.Source) *Collector {
	c := &Collector{}
	for name, s := range m {
		c.sources = append(c.sources, s)
		c.names = append(c.names, name)
	}
	return c
}

// Describe sends the descriptions of every metric the collector may send.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{upDesc, capacityDesc, depthDesc, messagesDesc, closedDesc, orphansDesc, aliveDesc, deadDesc} {
		ch <- d
	}
	for _, k := range counters {
		ch <- k.desc
	}
}

// Collect reads every ring once and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for i, s := range c.sources {
		snap, err := metrics.Read(s)
		name := c.names[i]
		if err != nil {
			if name == "" {
				name = sourceName(s)
			}
			ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0, name)
			continue
		}
		if name == "" {
			name = snap.Ring
		}
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{name}, labels...)...)
		}
		gauge(upDesc, 1)
		gauge(capacityDesc, float64(snap.Capacity))
		gauge(depthDesc, float64(snap.Depth))
		gauge(messagesDesc, float64(snap.Messages))
		gauge(closedDesc, b2f(snap.Closed))
		gauge(orphansDesc, float64(snap.Orphans))
		for _, role := range []struct {
			label string
			r     metrics.Role
		}{{"producer", snap.Producers}, {"consumer", snap.Consumers}} {
			gauge(aliveDesc, float64(role.r.Alive), role.label)
			gauge(deadDesc, float64(role.r.Dead), role.label)
			for _, k := range counters {
				ch <- prometheus.MustNewConstMetric(k.desc, prometheus.CounterValue, float64(k.get(role.r)), name, role.label)
			}
		}
	}
}

// sourceName is the ring label of a source that could not be read: the name
// of a Named source, else "unknown".
func sourceName(s metrics.Source) string {
	if n, ok := s.(interface{ Name() string }); ok {
		return n.Name()
	}
	return "unknown"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
