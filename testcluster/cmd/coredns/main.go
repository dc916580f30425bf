// CoreDNS for the real node, with only the plugins its Corefile uses (scripts/testcluster-real-node.sh
// writes it: bind, errors, kubernetes, cache). The upstream main links every plugin — cloud DNS
// providers, tracing, etcd — which made CoreDNS the slowest binary of a cold build; this main
// links four.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

func main() { coremain.Run() }
