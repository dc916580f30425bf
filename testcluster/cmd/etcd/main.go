// Command etcd runs a single-member etcd server through go.etcd.io/etcd/server/v3/embed,
// listening on loopback only. It is the storage of the local test control plane.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		log.Fatalf("bad url %q: %v", s, err)
	}
	return *u
}

func main() {
	dataDir := flag.String("data-dir", "", "data directory (required)")
	clientPort := flag.Int("client-port", 2379, "client port on 127.0.0.1 (plain HTTP)")
	peerPort := flag.Int("peer-port", 2380, "peer port on 127.0.0.1 (plain HTTP)")
	name := flag.String("name", "testcluster", "member name")
	quota := flag.Int64("quota-backend-bytes", 2<<30, "backend quota")
	logLevel := flag.String("log-level", "warn", "log level")
	flag.Parse()
	if *dataDir == "" {
		log.Fatal("--data-dir is required")
	}

	cfg := embed.NewConfig()
	cfg.Name = *name
	cfg.Dir = *dataDir
	client := mustURL(fmt.Sprintf("http://127.0.0.1:%d", *clientPort))
	peer := mustURL(fmt.Sprintf("http://127.0.0.1:%d", *peerPort))
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	cfg.InitialCluster = fmt.Sprintf("%s=%s", *name, peer.String())
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "1"
	cfg.QuotaBackendBytes = *quota
	cfg.UnsafeNoFsync = true // test data only; speeds up writes a lot
	// NewConfig leaves this at 0 (only the flag default is 300ms), which would log every request.
	cfg.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration
	cfg.LogLevel = *logLevel
	cfg.Logger = "zap"
	cfg.LogOutputs = []string{"stderr"}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatalf("start etcd: %v", err)
	}
	defer e.Close()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-e.Server.ReadyNotify():
		log.Printf("etcd ready on %s", client.String())
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		log.Fatal("etcd took too long to start")
	case s := <-sig:
		log.Printf("signal %v before ready", s)
		return
	}
	select {
	case err := <-e.Err():
		log.Fatalf("etcd error: %v", err)
	case s := <-sig:
		log.Printf("signal %v, stopping", s)
	}
}
