// promhttp-serve: client_golang's promhttp serving the HTTP benchmark's series.
//
// The same 1,000 counter series as marty-http-serve and serve_prometheus_client.py:
// bench_requests_total{handler="/api/item/<i>",code="200"} = i, in a registry of their own
// (no Go or process collectors), served at GET /metrics on 127.0.0.1:<ephemeral>. Prints
// "port=<n>" and then "ready" on standard output; serves until killed.
//
// Built offline by Benchmarks/http/run.sh against Debian's golang-github-prometheus-client-golang-dev:
//   GO111MODULE=off GOPATH=<tmp>:/usr/share/gocode go build -o promhttp-serve .
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	series := flag.Int("series", 1000, "counter series to register")
	flag.Parse()

	registry := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(
		prometheus.CounterOpts{Name: "bench_requests_total", Help: "help"},
		[]string{"handler", "code"},
	)
	registry.MustRegister(requests)
	for i := 0; i < *series; i++ {
		requests.WithLabelValues(fmt.Sprintf("/api/item/%d", i), "200").Add(float64(i))
	}

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "promhttp-serve:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	fmt.Printf("port=%d\nready\n", listener.Addr().(*net.TCPAddr).Port)
	if err := http.Serve(listener, mux); err != nil {
		fmt.Fprintln(os.Stderr, "promhttp-serve:", err)
		os.Exit(1)
	}
}
