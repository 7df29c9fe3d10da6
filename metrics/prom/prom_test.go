package prom_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring"
	"github.com/shmring/shmring/metrics"
	"github.com/shmring/shmring/metrics/prom"
	"github.com/shmring/shmring/shm"
)

func TestCollector(t *testing.T) {
	ctx := context.Background()
	r, err := shmring.CreateAnonymous(&shmring.Options{Size: 64 << 10})
	require.NoError(t, err)
	defer r.Close()
	p, err := r.Producer()
	require.NoError(t, err)
	require.NoError(t, p.Send(ctx, []byte("hello")))
	require.NoError(t, p.Send(ctx, []byte("you")))
	p.Stats()
	missing := fmt.Sprintf("shmring-test-prom-missing-%d", os.Getpid())

	c := prom.NewCollectorNamed(map[string]metrics.Source{"jobs": r, "gone": metrics.Named(missing)})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	want := `
# HELP shmring_up 1 when the ring could be read at this scrape, else 0.
# TYPE shmring_up gauge
shmring_up{ring="gone"} 0
shmring_up{ring="jobs"} 1
# HELP shmring_messages Messages in the ring.
# TYPE shmring_messages gauge
shmring_messages{ring="jobs"} 2
# HELP shmring_endpoints_alive Endpoints of the role whose process holds them.
# TYPE shmring_endpoints_alive gauge
shmring_endpoints_alive{ring="jobs",role="consumer"} 0
shmring_endpoints_alive{ring="jobs",role="producer"} 1
# HELP shmring_messages_sent_total Messages the role's endpoints committed.
# TYPE shmring_messages_sent_total counter
shmring_messages_sent_total{ring="jobs",role="consumer"} 0
shmring_messages_sent_total{ring="jobs",role="producer"} 2
# HELP shmring_sent_bytes_total Payload bytes the role's endpoints committed.
# TYPE shmring_sent_bytes_total counter
shmring_sent_bytes_total{ring="jobs",role="consumer"} 0
shmring_sent_bytes_total{ring="jobs",role="producer"} 8
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"shmring_up", "shmring_messages", "shmring_endpoints_alive", "shmring_messages_sent_total", "shmring_sent_bytes_total"))
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	assert.Equal(t, 1+(6+2*(2+9)), n, "one up for the missing ring; six gauges and two roles of two gauges and nine counters for the other")
}

func TestCollectorUnnamed(t *testing.T) {
	name := fmt.Sprintf("shmring-test-prom-%d", os.Getpid())
	r, err := shmring.Create(name, &shmring.Options{Size: 64 << 10})
	require.NoError(t, err)
	defer r.Close()
	defer r.Unlink()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(prom.NewCollector(metrics.Named(name), metrics.Named(name+"-missing"))))
	want := fmt.Sprintf(`
# HELP shmring_up 1 when the ring could be read at this scrape, else 0.
# TYPE shmring_up gauge
shmring_up{ring="%s/%s"} 1
shmring_up{ring="%s-missing"} 0
`, shm.Dir(), name, name)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "shmring_up"))
}
