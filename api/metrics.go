package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the API's Prometheus collectors.
type metrics struct {
	gatherer prometheus.Gatherer
	duration *prometheus.HistogramVec
}

// newMetrics registers the API's collectors with reg (nil: a new
// registry). Registering into a registry that already holds them (a second
// server in one process) reuses the existing collectors.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "lakeq",
		Subsystem: "api",
		Name:      "request_duration_seconds",
		Help:      "Time to answer an API request (to the first byte of a streamed body), by route pattern, method and status.",
		Buckets:   []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route", "method", "status"})
	if err := reg.Register(duration); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
		existing, ok := are.ExistingCollector.(*prometheus.HistogramVec)
		if !ok {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
		duration = existing
	}
	m := &metrics{duration: duration}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	}
	return m, nil
}

// observe records one answered request.
func (m *metrics) observe(method, route string, status int, d time.Duration) {
	m.duration.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

// handler serves the registry in Prometheus's text format, or 404 when the
// registry given to New cannot be gathered from.
func (m *metrics) handler() fiber.Handler {
	if m.gatherer == nil {
		return func(*fiber.Ctx) error {
			return newStatusError(http.StatusNotFound, "metrics are gathered elsewhere")
		}
	}
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{}))
}
