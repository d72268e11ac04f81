package reload

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/membrane-dev/membrane/internal/testkit"
)

// BenchmarkReload measures, on a 1,009-file workspace (100 connectors × 9
// actions), the time from writing one changed action file to the first
// request that the real server answers with the new definition (polling
// GET /v1/connectors/{key} over loopback). Each iteration is one save:
//
//	go test -run '^$' -bench BenchmarkReload -benchtime 100x ./runtime/reload/
func BenchmarkReload(b *testing.B) {
	const connectors, actions = 100, 9
	dir := b.TempDir()
	genWorkspace(b, dir, connectors, actions)
	d := startDev(b, dir, Options{})
	if n := len(d.served().Files); n != connectors*(actions+1)+actions {
		b.Fatalf("%d files", n)
	}
	parses := d.loader.Parses()
	var took []time.Duration
	n := 0
	for b.Loop() {
		n++
		i, j, version := n%connectors, n%actions, fmt.Sprintf("s%d", n)
		start := time.Now()
		testkit.WriteFile(b, actionPath(dir, i, j), actionText(i, j, version))
		for d.actionName(b, i, j) != version {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("save %d not served after 30 s", n)
			}
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	pct := func(p float64) float64 {
		return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(d.loader.Parses()-parses)/float64(n), "parses/save")
	b.ReportMetric(0, "ns/op")
}
