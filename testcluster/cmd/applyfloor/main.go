// Command applyfloor is the floor of bench/scale.sh: the least a client can do to install a
// rendered job. It server-side applies the objects of `modelops-executor render` (install
// order) into one namespace, wave by wave as install does (Namespace, CRDs, configuration,
// Services, scoring services, scoring flows, autoscalers), `-concurrency` requests at a time, and
// waits, as install does, until the scoring services' Deployments are available before the
// flows. Nothing else: no preflight, no job record, no retries, no pruning.
//
// It is not part of the control plane: scripts/testcluster.sh leaves cmd/applyfloor out of its
// build key, so changing it does not rebuild the cluster binaries.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// The waves of src/manifest/order.rs: kinds with a fixed wave; other kinds go by component.
var kindWave = map[string]int{
	"Namespace": 0, "CustomResourceDefinition": 1,
	"PriorityClass": 2, "ServiceAccount": 2, "Secret": 2, "ConfigMap": 2,
	"PersistentVolumeClaim": 2, "ClusterRole": 2, "ClusterRoleBinding": 2, "Role": 2,
	"RoleBinding": 2, "NetworkPolicy": 2,
	"Service": 3, "Ingress": 3,
	"PodDisruptionBudget": 6, "HorizontalPodAutoscaler": 6, "VerticalPodAutoscaler": 6,
}

const scoringServices, scoringFlows = 4, 5

func waveOf(u *unstructured.Unstructured) int {
	if w, ok := kindWave[u.GetKind()]; ok {
		return w
	}
	if u.GetLabels()["app.kubernetes.io/component"] == "scoring-flow" {
		return scoringFlows
	}
	return scoringServices
}

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig")
	file := flag.String("f", "", "rendered objects, multi-document YAML in install order")
	namespace := flag.String("namespace", "", "namespace to apply the namespaced objects into (default: theirs)")
	concurrency := flag.Int("concurrency", 16, "requests in flight within a wave")
	timeout := flag.Duration("timeout", 10*time.Minute, "overall deadline")
	create := flag.String("create-namespace", "", "only create this namespace (bench set-up)")
	remove := flag.String("delete-namespace", "", "only delete this namespace and wait until it is gone (bench clean-up)")
	flag.Parse()
	var err error
	switch {
	case *create != "":
		err = createNamespace(*kubeconfig, *create)
	case *remove != "":
		err = deleteNamespace(*kubeconfig, *remove, *timeout)
	default:
		err = run(*kubeconfig, *file, *namespace, *concurrency, *timeout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "applyfloor:", err)
		os.Exit(1)
	}
}

func clientset(kubeconfig string) (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

func createNamespace(kubeconfig, name string) error {
	cs, err := clientset(kubeconfig)
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err = cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{})
	return err
}

func deleteNamespace(kubeconfig, name string, timeout time.Duration) error {
	cs, err := clientset(kubeconfig)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The Jobs first, in one request: left to the namespace controller, thousands of Jobs stayed
	// while their Pending pods were force-deleted and re-created 20 a second for many minutes.
	// At 50,000 Jobs one request outlives the API server's 60 s request timeout ("may still be
	// processing the request"): it goes on deleting, so ask again until a request completes.
	background := metav1.DeletePropagationBackground
	for {
		err = cs.BatchV1().Jobs(name).DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, metav1.ListOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			break
		}
		if !apierrors.IsServerTimeout(err) && !apierrors.IsTimeout(err) {
			return err
		}
		fmt.Fprintf(os.Stderr, "applyfloor: deleting the Jobs of %s: %v; asking again\n", name, err)
	}
	err = cs.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	for err == nil {
		_, err = cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			time.Sleep(500 * time.Millisecond)
		}
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func run(kubeconfig, file, namespace string, concurrency int, timeout time.Duration) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	// No client-side rate limit: modelops-executor has none either.
	cfg.QPS, cfg.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))
	objects, err := read(file)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	resource := func(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, err
		}
		if m.Scope.Name() != "namespace" {
			return dyn.Resource(m.Resource), nil
		}
		if namespace != "" {
			u.SetNamespace(namespace)
		}
		return dyn.Resource(m.Resource).Namespace(u.GetNamespace()), nil
	}
	for start := 0; start < len(objects); {
		wave := waveOf(objects[start])
		end := start
		for end < len(objects) && waveOf(objects[end]) == wave {
			end++
		}
		members := objects[start:end]
		if err := applyAll(ctx, members, concurrency, resource); err != nil {
			return err
		}
		if wave == scoringServices {
			if err := awaitDeployments(ctx, members, resource); err != nil {
				return err
			}
		}
		start = end
	}
	return nil
}

func read(file string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var objects []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(u.Object) > 0 {
			objects = append(objects, u)
		}
	}
}

type resourceFunc func(*unstructured.Unstructured) (dynamic.ResourceInterface, error)

// applyAll server-side applies the objects, `concurrency` at a time; the first error wins.
func applyAll(ctx context.Context, objects []*unstructured.Unstructured, concurrency int, resource resourceFunc) error {
	slots := make(chan struct{}, max(concurrency, 1))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, u := range objects {
		slots <- struct{}{}
		wg.Add(1)
		go func(u *unstructured.Unstructured) {
			defer func() { <-slots; wg.Done() }()
			err := apply(ctx, u, resource)
			if err != nil {
				once.Do(func() { first = err })
			}
		}(u)
	}
	wg.Wait()
	return first
}

func apply(ctx context.Context, u *unstructured.Unstructured, resource resourceFunc) error {
	ri, err := resource(u)
	if err != nil {
		return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: "applyfloor"})
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}

// awaitDeployments polls each Deployment of the wave until it is available.
func awaitDeployments(ctx context.Context, members []*unstructured.Unstructured, resource resourceFunc) error {
	for _, u := range members {
		if u.GetKind() != "Deployment" {
			continue
		}
		ri, err := resource(u)
		if err != nil {
			return err
		}
		for {
			live, err := ri.Get(ctx, u.GetName(), metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("read Deployment %s: %w", u.GetName(), err)
			}
			want, _, _ := unstructured.NestedInt64(live.Object, "spec", "replicas")
			ready, _, _ := unstructured.NestedInt64(live.Object, "status", "availableReplicas")
			generation, _, _ := unstructured.NestedInt64(live.Object, "status", "observedGeneration")
			if generation >= live.GetGeneration() && ready >= want {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("Deployment %s not available: %w", u.GetName(), ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}
