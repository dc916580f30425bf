// Command tcutil is the small helper scripts/testcluster.sh uses instead of kubectl and
// openssl: it generates the PKI, picks free ports, writes the kubeconfig, and waits for the
// control plane, the fake nodes and the default service account.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tcutil: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		die("usage: tcutil pki|ports|kubeconfig|wait-url|wait-cluster|nodes|wait-node|drain-node|status|apply ...")
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "pki":
		err = pkiCmd(args)
	case "ports":
		err = portsCmd(args)
	case "kubeconfig":
		err = kubeconfigCmd(args)
	case "wait-url":
		err = waitURLCmd(args)
	case "wait-cluster":
		err = waitClusterCmd(args)
	case "nodes":
		err = nodesCmd(args)
	case "status":
		err = statusCmd(args)
	case "apply":
		err = applyCmd(args)
	case "wait-node":
		err = waitNodeCmd(args)
	case "drain-node":
		err = drainNodeCmd(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		die("%s: %v", cmd, err)
	}
}

// ---- pki ----

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	// SEC1 ("EC PRIVATE KEY"): kube-apiserver's --service-account-key-file accepts it.
	der, err := x509.MarshalECPrivateKey(k)
	return k, der, err
}

// pkiCmd writes ca.crt/ca.key and admin.crt/admin.key (CN kwok-admin, O system:masters, usable
// as server and client certificate). admin.key also signs service-account tokens. With -host-ip
// (the real node's host address, where kube-apiserver then listens) that address is a SAN of
// admin.crt too, and with -node NAME it also writes node.crt/node.key (CN system:node:NAME,
// O system:nodes: the kubelet's client identity for the Node authorizer and its serving
// certificate, SANs NAME and the host address) and kube-proxy.crt/kube-proxy.key
// (CN system:kube-proxy, bound to ClusterRole system:node-proxier by default).
func pkiCmd(args []string) error {
	fs := flag.NewFlagSet("pki", flag.ExitOnError)
	dir := fs.String("dir", "", "output directory")
	hostIP := fs.String("host-ip", "", "extra IP SAN of admin.crt (and of node.crt)")
	nodeName := fs.String("node", "", "also write node.crt and kube-proxy.crt for this node name")
	_ = fs.Parse(args)
	if *dir == "" {
		return errors.New("--dir is required")
	}
	var extraIPs []net.IP
	if *hostIP != "" {
		ip := net.ParseIP(*hostIP)
		if ip == nil {
			return fmt.Errorf("--host-ip %q is not an IP address", *hostIP)
		}
		extraIPs = append(extraIPs, ip)
	}
	if *nodeName != "" && len(extraIPs) == 0 {
		return errors.New("--node needs --host-ip")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caKey, caDER, err := newKey()
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "modelops-testcluster-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caCertDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caCertDER)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(*dir, "ca.crt"), "CERTIFICATE", caCertDER, 0o644); err != nil {
		return err
	}
	if err := writePEM(filepath.Join(*dir, "ca.key"), "EC PRIVATE KEY", caDER, 0o600); err != nil {
		return err
	}
	serial := int64(1)
	issue := func(base string, subject pkix.Name, usages []x509.ExtKeyUsage, dns []string, ips []net.IP) (*ecdsa.PrivateKey, error) {
		key, keyDER, err := newKey()
		if err != nil {
			return nil, err
		}
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      subject,
			NotBefore:    now,
			NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  usages,
			DNSNames:     dns,
			IPAddresses:  ips,
		}
		certDER, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return nil, err
		}
		if err := writePEM(filepath.Join(*dir, base+".crt"), "CERTIFICATE", certDER, 0o644); err != nil {
			return nil, err
		}
		return key, writePEM(filepath.Join(*dir, base+".key"), "EC PRIVATE KEY", keyDER, 0o600)
	}
	serverClient := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	adminKey, err := issue("admin", pkix.Name{CommonName: "kwok-admin", Organization: []string{"system:masters"}}, serverClient,
		[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
		append([]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.96.0.1")}, extraIPs...))
	if err != nil {
		return err
	}
	adminPubDER, err := x509.MarshalPKIXPublicKey(&adminKey.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(*dir, "admin.pub"), "PUBLIC KEY", adminPubDER, 0o644); err != nil {
		return err
	}
	if *nodeName == "" {
		return nil
	}
	if _, err := issue("node", pkix.Name{CommonName: "system:node:" + *nodeName, Organization: []string{"system:nodes"}},
		serverClient, []string{*nodeName}, extraIPs); err != nil {
		return err
	}
	_, err = issue("kube-proxy", pkix.Name{CommonName: "system:kube-proxy"},
		[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil)
	return err
}

// ---- ports ----

// portsCmd prints N distinct free TCP ports on 127.0.0.1, one per line.
func portsCmd(args []string) error {
	fs := flag.NewFlagSet("ports", flag.ExitOnError)
	n := fs.Int("n", 1, "how many ports")
	_ = fs.Parse(args)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for i := 0; i < *n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// ---- kubeconfig ----

func kubeconfigCmd(args []string) error {
	fs := flag.NewFlagSet("kubeconfig", flag.ExitOnError)
	server := fs.String("server", "", "https://127.0.0.1:PORT")
	pki := fs.String("pki", "", "directory with ca.crt and the client certificate")
	out := fs.String("out", "", "output path")
	name := fs.String("name", "modelops-testcluster", "cluster/context/user name")
	cert := fs.String("cert", "admin", "client certificate: <pki>/<cert>.crt and .key")
	_ = fs.Parse(args)
	if *server == "" || *pki == "" || *out == "" {
		return errors.New("--server, --pki and --out are required")
	}
	read := func(f string) ([]byte, error) { return os.ReadFile(filepath.Join(*pki, f)) }
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	crt, err := read(*cert + ".crt")
	if err != nil {
		return err
	}
	key, err := read(*cert + ".key")
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[*name] = &clientcmdapi.Cluster{Server: *server, CertificateAuthorityData: ca}
	cfg.AuthInfos[*name] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
	cfg.Contexts[*name] = &clientcmdapi.Context{Cluster: *name, AuthInfo: *name, Namespace: "default"}
	cfg.CurrentContext = *name
	tmp := *out + ".tmp"
	if err := clientcmd.WriteToFile(*cfg, tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

// ---- waits ----

// watchPids holds processes whose death aborts a wait at once (flag -pids).
var watchPids []int

func addPidsFlag(fs *flag.FlagSet) {
	fs.Func("pids", "comma-separated pids; stop waiting as soon as one has exited", func(v string) error {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			n, err := strconv.Atoi(p)
			if err != nil {
				return err
			}
			watchPids = append(watchPids, n)
		}
		return nil
	})
}

func poll(ctx context.Context, what string, every time.Duration, f func(context.Context) (bool, string)) error {
	last := ""
	for {
		for _, pid := range watchPids {
			if err := syscall.Kill(pid, 0); err != nil {
				return fmt.Errorf("process %d exited while waiting for %s (last: %s)", pid, what, last)
			}
		}
		ok, msg := f(ctx)
		if ok {
			return nil
		}
		last = msg
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s (last: %s)", what, last)
		case <-time.After(every):
		}
	}
}

// waitURLCmd polls an HTTPS health endpoint (certificate not verified: it is only a liveness
// probe of a local component) until it answers 200.
func waitURLCmd(args []string) error {
	fs := flag.NewFlagSet("wait-url", flag.ExitOnError)
	addPidsFlag(fs)
	timeout := fs.Duration("timeout", 2*time.Minute, "timeout")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("usage: wait-url [--timeout D] URL")
	}
	url := fs.Arg(0)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health probe
	}}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	return poll(ctx, url, 250*time.Millisecond, func(ctx context.Context) (bool, string) {
		resp, err := client.Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

func clientFor(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 10 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// waitClusterCmd waits for /readyz of the API server and for the default ServiceAccount in the
// "default" namespace (proof that kube-controller-manager runs).
func waitClusterCmd(args []string) error {
	fs := flag.NewFlagSet("wait-cluster", flag.ExitOnError)
	addPidsFlag(fs)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	timeout := fs.Duration("timeout", 2*time.Minute, "timeout")
	sa := fs.Bool("service-account", true, "also wait for ServiceAccount default/default")
	_ = fs.Parse(args)
	cs, err := clientFor(*kc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := poll(ctx, "kube-apiserver /readyz", 250*time.Millisecond, func(ctx context.Context) (bool, string) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return false, err.Error() + " " + string(body)
		}
		return true, ""
	}); err != nil {
		return err
	}
	if !*sa {
		return nil
	}
	return poll(ctx, "ServiceAccount default/default (kube-controller-manager)", 250*time.Millisecond, func(ctx context.Context) (bool, string) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodesCmd creates fake nodes kwok-node-0..N-1 (if missing) and waits until all are Ready.
func nodesCmd(args []string) error {
	fs := flag.NewFlagSet("nodes", flag.ExitOnError)
	addPidsFlag(fs)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	count := fs.Int("count", 2, "number of fake nodes")
	timeout := fs.Duration("timeout", 2*time.Minute, "timeout")
	_ = fs.Parse(args)
	cs, err := clientFor(*kc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	for i := 0; i < *count; i++ {
		name := fmt.Sprintf("kwok-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels: map[string]string{
					"type": "kwok", "kubernetes.io/role": "agent", "kubernetes.io/hostname": name,
					"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				},
			},
			Status: corev1.NodeStatus{
				Allocatable: res, Capacity: res,
				NodeInfo: corev1.NodeSystemInfo{Architecture: "amd64", OperatingSystem: "linux"},
			},
		}
		err := poll(ctx, "create node "+name, 500*time.Millisecond, func(ctx context.Context) (bool, string) {
			_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				return true, ""
			}
			return false, err.Error()
		})
		if err != nil {
			return err
		}
	}
	return poll(ctx, fmt.Sprintf("%d Ready nodes (kwok)", *count), 250*time.Millisecond, func(ctx context.Context) (bool, string) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for i := range nodes.Items {
			if nodeReady(&nodes.Items[i]) {
				ready++
			}
		}
		return ready >= *count, fmt.Sprintf("%d/%d ready", ready, *count)
	})
}

// statusCmd prints the server version, readiness and the nodes.
func statusCmd(args []string) error {
	fs := flag.NewFlagSet("status", flag.ExitOnError)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	_ = fs.Parse(args)
	cs, err := clientFor(*kc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		return err
	}
	fmt.Printf("server version: %s\n", v.GitVersion)
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	fmt.Printf("readyz: %s", strings.TrimSpace(string(body)))
	if err != nil {
		fmt.Printf(" (%v)", err)
	}
	fmt.Println()
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		line := fmt.Sprintf("node %s ready=%v", n.Name, nodeReady(n))
		if role := n.Labels["modelops.io/node"]; role != "" {
			ni := n.Status.NodeInfo
			line += fmt.Sprintf(" modelops.io/node=%s kubelet=%s kube-proxy=%s runtime=%s kernel=%s", role,
				ni.KubeletVersion, ni.KubeProxyVersion, ni.ContainerRuntimeVersion, ni.KernelVersion)
			for _, a := range n.Status.Addresses {
				line += fmt.Sprintf(" %s=%s", a.Type, a.Address)
			}
		}
		fmt.Println(line)
	}
	return nil
}

// applyCmd server-side applies every object of the given YAML files (field manager
// modelops-testcluster), retrying while the API server is still settling.
func applyCmd(args []string) error {
	fs := flag.NewFlagSet("apply", flag.ExitOnError)
	addPidsFlag(fs)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	timeout := fs.Duration("timeout", time.Minute, "timeout")
	_ = fs.Parse(args)
	cfg, err := clientcmd.BuildConfigFromFlags("", *kc)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))
	var objs []*unstructured.Unstructured
	for _, path := range fs.Args() {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				_ = f.Close()
				return fmt.Errorf("%s: %w", path, err)
			}
			if len(u.Object) > 0 {
				objs = append(objs, u)
			}
		}
		_ = f.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	for _, u := range objs {
		what := u.GetKind() + " " + u.GetName()
		err := poll(ctx, "apply "+what, 500*time.Millisecond, func(ctx context.Context) (bool, string) {
			gvk := u.GroupVersionKind()
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				mapper.Reset()
				return false, err.Error()
			}
			var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
			if m.Scope.Name() == "namespace" {
				ns := u.GetNamespace()
				if ns == "" {
					ns = "default"
				}
				ri = dyn.Resource(m.Resource).Namespace(ns)
			}
			data, err := u.MarshalJSON()
			if err != nil {
				return false, err.Error()
			}
			_, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data,
				metav1.PatchOptions{FieldManager: "modelops-testcluster", Force: ptrTrue()})
			if err != nil {
				return false, err.Error()
			}
			return true, ""
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func ptrTrue() *bool { t := true; return &t }

// waitNodeCmd waits until the named node (a real kubelet) has registered and is Ready.
func waitNodeCmd(args []string) error {
	fs := flag.NewFlagSet("wait-node", flag.ExitOnError)
	addPidsFlag(fs)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	name := fs.String("name", "", "node name")
	timeout := fs.Duration("timeout", 2*time.Minute, "timeout")
	_ = fs.Parse(args)
	cs, err := clientFor(*kc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	return poll(ctx, "node "+*name+" Ready", 500*time.Millisecond, func(ctx context.Context) (bool, string) {
		n, err := cs.CoreV1().Nodes().Get(ctx, *name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, fmt.Sprintf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
			}
		}
		return false, "no Ready condition yet"
	})
}

// drainNodeCmd deletes every pod bound to the node (grace period 1 s) and waits until they are
// gone: the kubelet confirms a deletion only after it has stopped the containers and torn down
// the pod's network, so afterwards nothing of them runs.
func drainNodeCmd(args []string) error {
	fs := flag.NewFlagSet("drain-node", flag.ExitOnError)
	kc := fs.String("kubeconfig", "", "kubeconfig")
	name := fs.String("name", "", "node name")
	timeout := fs.Duration("timeout", time.Minute, "timeout")
	_ = fs.Parse(args)
	cs, err := clientFor(*kc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	grace := int64(1)
	sel := metav1.ListOptions{FieldSelector: "spec.nodeName=" + *name}
	return poll(ctx, "pods on node "+*name+" to be deleted", 500*time.Millisecond, func(ctx context.Context) (bool, string) {
		pods, err := cs.CoreV1().Pods("").List(ctx, sel)
		if err != nil {
			return false, err.Error()
		}
		if len(pods.Items) == 0 {
			return true, ""
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp != nil {
				continue
			}
			err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
			if err != nil && !apierrors.IsNotFound(err) {
				return false, err.Error()
			}
		}
		return false, fmt.Sprintf("%d pods left, e.g. %s/%s", len(pods.Items), pods.Items[0].Namespace, pods.Items[0].Name)
	})
}
