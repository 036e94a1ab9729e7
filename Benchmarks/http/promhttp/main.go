// promhttp-serve: client_golang's promhttp serving the HTTP benchmark's series.
//
// The same 1,000 counter series as marty-http-serve and serve_prometheus_client.py:
// bench_requests_total{handler="/api/item/<i>",code="200"} = i, in a registry of their own
// (no Go or process collectors), served at GET /metrics on 127.0.0.1:<ephemeral>. Prints
// "port=<n>" and then "ready" on standard output; serves until killed.
//
// -web-config PATH: serve through exporter-toolkit's web package instead (TLS, basic auth,
// headers from a web-config file, as Prometheus' own exporters do). web.ListenAndServe in
// 0.8.2 only binds the addresses it is given and never tells the port, so the listener bound
// here is handed to web.Serve, which is what web.ListenAndServe calls for each address
// (through web.ServeMultiple): the same serving path, no port race.
//
// Built offline by Benchmarks/run.sh against Debian's golang-github-prometheus-client-golang-dev
// and golang-github-prometheus-exporter-toolkit-dev (0.8.2):
//
//	GO111MODULE=off GOPATH=<tmp>:/usr/share/gocode go build -o promhttp-serve .
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/go-kit/log"
)

func main() {
	series := flag.Int("series", 1000, "counter series to register")
	webConfig := flag.String("web-config", "", "exporter-toolkit web-config file (TLS, basic auth); empty: plain HTTP")
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
	if *webConfig != "" {
		// Checked before "ready", as web.Serve would on its first line: a bad file fails the start.
		if err := web.Validate(*webConfig); err != nil {
			fmt.Fprintln(os.Stderr, "promhttp-serve:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("port=%d\nready\n", listener.Addr().(*net.TCPAddr).Port)
	if *webConfig != "" {
		systemdSocket := false
		addresses := []string{listener.Addr().String()}
		flags := &web.FlagConfig{
			WebListenAddresses: &addresses, WebSystemdSocket: &systemdSocket, WebConfigFile: webConfig,
		}
		server := &http.Server{Handler: mux}
		// Its few lines (listening, TLS enabled) go to standard error; none per request.
		err = web.Serve(listener, server, flags, log.NewLogfmtLogger(os.Stderr))
	} else {
		err = http.Serve(listener, mux)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "promhttp-serve:", err)
		os.Exit(1)
	}
}
