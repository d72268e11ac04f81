package metrics

import "github.com/prometheus/client_golang/prometheus"

// webhookCollector turns the ingress's own atomic counters into series at
// each scrape: the ingress counts once, for its status and for metrics.
type webhookCollector struct{ counts func() map[string]int64 }

var (
	webhooksReceived   = prometheus.NewDesc("membrane_webhooks_received_total", "Webhook requests that reached the ingress.", nil, nil)
	webhooksStored     = prometheus.NewDesc("membrane_webhooks_stored_total", "Webhook requests accepted and stored for processing.", nil, nil)
	webhooksHandshakes = prometheus.NewDesc("membrane_webhooks_handshakes_total", "Webhook challenge handshakes answered.", nil, nil)
	webhooksRejected   = prometheus.NewDesc("membrane_webhooks_rejected_total",
		"Webhook requests refused, by reason: tooLarge, badContentType, unknownRoute, badSignature, staleTimestamp, malformed, failed (the server failed: 5xx).",
		[]string{"reason"}, nil)
	rejectReasons = []string{"tooLarge", "badContentType", "unknownRoute", "badSignature", "staleTimestamp", "malformed", "failed"}
)

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- webhooksReceived
	ch <- webhooksStored
	ch <- webhooksHandshakes
	ch <- webhooksRejected
}

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.counts()
	ch <- prometheus.MustNewConstMetric(webhooksReceived, prometheus.CounterValue, float64(n["received"]))
	ch <- prometheus.MustNewConstMetric(webhooksStored, prometheus.CounterValue, float64(n["stored"]))
	ch <- prometheus.MustNewConstMetric(webhooksHandshakes, prometheus.CounterValue, float64(n["handshakes"]))
	for _, r := range rejectReasons {
		ch <- prometheus.MustNewConstMetric(webhooksRejected, prometheus.CounterValue, float64(n[r]), r)
	}
}
