// Package validate checks the Tekton objects of modelops-executor with Tekton's own code: every
// YAML document in tekton/ (and the build-plan golden Pipeline) is decoded strictly into the
// tekton.dev/v1 or Kubernetes types, defaulted and validated exactly as Tekton's admission webhook
// does, then cross-checked (task references, parameters, results, RBAC bindings, CLI flags).
package validate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tektoncd/pipeline/pkg/apis/config"
	v1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"knative.dev/pkg/apis"
	"sigs.k8s.io/yaml"
)

const (
	tektonDir  = ".."
	repoRoot   = "../.."
	goldenPlan = "tests/golden/build-plan/pipeline.yaml"
)

// document is one YAML document of a file, decoded into its typed object.
type document struct {
	file   string
	index  int
	kind   string
	name   string
	object any
}

func (d document) String() string { return fmt.Sprintf("%s#%d %s/%s", d.file, d.index, d.kind, d.name) }

// sources lists every YAML file to check: tekton/*.yaml (not crds/, not this module) and the
// golden build plan.
func sources(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(tektonDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(tektonDir, "*.yml"))
	files = append(files, more...)
	golden := filepath.Join(repoRoot, goldenPlan)
	if _, err := os.Stat(golden); err != nil {
		t.Fatalf("the build-plan golden file is missing (cargo test --test build_plan with UPDATE_GOLDEN=1 writes it): %v", err)
	}
	files = append(files, golden)
	sort.Strings(files)
	if len(files) < 5 {
		t.Fatalf("expected the tekton/ YAML files, found %v", files)
	}
	return files
}

// displayPath names a file relative to the repository root.
func displayPath(file string) string {
	root, err1 := filepath.Abs(repoRoot)
	abs, err2 := filepath.Abs(file)
	if err1 != nil || err2 != nil {
		return file
	}
	if rel, err := filepath.Rel(root, abs); err == nil {
		return rel
	}
	return file
}

// splitDocuments returns the non-empty documents of a YAML stream.
func splitDocuments(data []byte) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var probe any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, err
		}
		if probe != nil {
			docs = append(docs, doc)
		}
	}
}

// decodeStrict decodes YAML into out, rejecting duplicate and unknown fields. Types with their own
// UnmarshalJSON can swallow unknown fields below them, so a round trip through JSON must also keep
// every non-empty field of the input.
func decodeStrict(doc []byte, out any) error {
	if err := yaml.UnmarshalStrict(doc, out); err != nil {
		return err
	}
	var original, roundTrip any
	if err := yaml.Unmarshal(doc, &original); err != nil {
		return err
	}
	encoded, err := json.Marshal(out)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(encoded, &roundTrip); err != nil {
		return err
	}
	var lost []string
	droppedFields(original, roundTrip, "", &lost)
	if len(lost) > 0 {
		return fmt.Errorf("unknown fields (dropped by decoding): %s", strings.Join(lost, ", "))
	}
	return nil
}

func droppedFields(original, roundTrip any, path string, lost *[]string) {
	switch o := original.(type) {
	case map[string]any:
		r, _ := roundTrip.(map[string]any)
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			child := path + "." + k
			rv, ok := r[k]
			if !ok {
				if !isEmpty(o[k]) {
					*lost = append(*lost, strings.TrimPrefix(child, "."))
				}
				continue
			}
			droppedFields(o[k], rv, child, lost)
		}
	case []any:
		r, _ := roundTrip.([]any)
		for i, item := range o {
			if i < len(r) {
				droppedFields(item, r[i], fmt.Sprintf("%s[%d]", path, i), lost)
			} else if !isEmpty(item) {
				*lost = append(*lost, fmt.Sprintf("%s[%d]", strings.TrimPrefix(path, "."), i))
			}
		}
	}
}

func isEmpty(value any) bool {
	switch v := value.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case bool:
		return !v
	case float64:
		return v == 0
	case []any:
		return len(v) == 0
	case map[string]any:
		for _, item := range v {
			if !isEmpty(item) {
				return false
			}
		}
		return true
	}
	return false
}

// load decodes every document of every source file; decoding errors fail the test.
func load(t *testing.T) []document {
	t.Helper()
	var all []document
	for _, file := range sources(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rel := displayPath(file)
		docs, err := splitDocuments(data)
		if err != nil {
			t.Errorf("%s: invalid YAML: %v", rel, err)
			continue
		}
		if len(docs) == 0 {
			t.Errorf("%s: no YAML document", rel)
		}
		for i, doc := range docs {
			d, err := decode(rel, i+1, doc)
			if err != nil {
				t.Errorf("%s#%d: %v", rel, i+1, err)
				continue
			}
			all = append(all, d)
		}
	}
	return all
}

func decode(file string, index int, doc []byte) (document, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return document{}, err
	}
	var object any
	switch meta.APIVersion + " " + meta.Kind {
	case "tekton.dev/v1 Task":
		object = &v1.Task{}
	case "tekton.dev/v1 Pipeline":
		object = &v1.Pipeline{}
	case "tekton.dev/v1 PipelineRun":
		object = &v1.PipelineRun{}
	case "v1 ServiceAccount":
		object = &corev1.ServiceAccount{}
	case "rbac.authorization.k8s.io/v1 Role":
		object = &rbacv1.Role{}
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		object = &rbacv1.RoleBinding{}
	case "rbac.authorization.k8s.io/v1 ClusterRole":
		object = &rbacv1.ClusterRole{}
	case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
		object = &rbacv1.ClusterRoleBinding{}
	default:
		return document{}, fmt.Errorf("unexpected object %q %q: tekton/ holds only tekton.dev/v1 Task, Pipeline, PipelineRun, ServiceAccount and RBAC", meta.APIVersion, meta.Kind)
	}
	if err := decodeStrict(doc, object); err != nil {
		return document{}, fmt.Errorf("%s %s: %w", meta.Kind, meta.Metadata.Name, err)
	}
	if meta.Metadata.Name == "" {
		return document{}, fmt.Errorf("%s without metadata.name (server-side apply needs a name)", meta.Kind)
	}
	return document{file: file, index: index, kind: meta.Kind, name: meta.Metadata.Name, object: object}, nil
}

type tektonObject interface {
	SetDefaults(context.Context)
	Validate(context.Context) *apis.FieldError
}

// featureContexts are the Tekton configurations validated against: the default one, and the
// strictest (`enable-api-fields: stable`), so the objects run on any Tekton v1 installation.
func featureContexts(t *testing.T) map[string]context.Context {
	t.Helper()
	stable, err := config.NewFeatureFlagsFromMap(map[string]string{"enable-api-fields": "stable"})
	if err != nil {
		t.Fatal(err)
	}
	defaults := config.FromContextOrDefaults(context.Background())
	strict := *defaults
	strict.FeatureFlags = stable
	return map[string]context.Context{
		"default":                  apis.WithinCreate(context.Background()),
		"enable-api-fields=stable": apis.WithinCreate(config.ToContext(context.Background(), &strict)),
	}
}

// TestTektonValidation runs Tekton's SetDefaults + Validate (what its admission webhook does) on
// every Task, Pipeline and PipelineRun.
func TestTektonValidation(t *testing.T) {
	docs := load(t)
	counts := map[string]int{}
	for name, ctx := range featureContexts(t) {
		for _, d := range docs {
			obj, ok := d.object.(tektonObject)
			if !ok {
				continue
			}
			counts[name]++
			// Validate a copy: defaulting mutates.
			copied := reflect.New(reflect.TypeOf(obj).Elem())
			copied.Elem().Set(reflect.ValueOf(obj).Elem())
			target := copied.Interface().(tektonObject)
			target.SetDefaults(ctx)
			if err := target.Validate(ctx); err != nil {
				t.Errorf("[%s] %s: Tekton validation failed:\n%v", name, d, err)
			}
		}
	}
	for name, n := range counts {
		t.Logf("[%s] validated %d Tekton objects", name, n)
	}
	if counts["default"] < 5 {
		t.Errorf("expected at least 3 Tasks, a Pipeline, a PipelineRun and the build plan, validated %d objects", counts["default"])
	}
}

// TestKinds checks that the expected objects exist.
func TestKinds(t *testing.T) {
	want := []string{
		"Task/modelops-install", "Task/modelops-wait", "Task/modelops-finally",
		"Pipeline/modelops-scoring", "Pipeline/modelops-build", "PipelineRun/modelops-scoring-example",
		"ServiceAccount/modelops-executor", "Role/modelops-executor", "RoleBinding/modelops-executor",
		"Role/modelops-executor-datachannels", "RoleBinding/modelops-executor-datachannels",
	}
	have := map[string]bool{}
	for _, d := range load(t) {
		key := d.kind + "/" + d.name
		if have[key] {
			t.Errorf("%s: %s is defined twice", d, key)
		}
		have[key] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("missing %s", w)
		}
	}
}

var resultRef = regexp.MustCompile(`\$\((tasks|finally)\.([a-z0-9-]+)\.results\.([a-z0-9-]+)\)`)

// TestReferences checks what Tekton only checks at run time: every taskRef names a Task defined
// here, every parameter passed is declared and every required one is passed, every result
// referenced is declared by the Task that should produce it, and the PipelineRun matches its
// Pipeline.
func TestReferences(t *testing.T) {
	docs := load(t)
	tasks := map[string]*v1.Task{}
	pipelines := map[string]*v1.Pipeline{}
	accounts := map[string]bool{}
	for _, d := range docs {
		switch o := d.object.(type) {
		case *v1.Task:
			tasks[o.Name] = o
		case *v1.Pipeline:
			pipelines[o.Name] = o
		case *corev1.ServiceAccount:
			accounts[o.Name] = true
		}
	}
	for _, d := range docs {
		switch o := d.object.(type) {
		case *v1.Pipeline:
			checkPipeline(t, d, o, tasks)
		case *v1.PipelineRun:
			p, ok := pipelines[o.Spec.PipelineRef.Name]
			if o.Spec.PipelineRef == nil || !ok {
				t.Errorf("%s: pipelineRef does not name a Pipeline of tekton/", d)
				continue
			}
			checkParams(t, d.String(), "pipeline "+p.Name, p.Spec.Params, o.Spec.Params)
			if sa := o.Spec.TaskRunTemplate.ServiceAccountName; !accounts[sa] {
				t.Errorf("%s: taskRunTemplate.serviceAccountName %q is not the ServiceAccount of rbac.yaml", d, sa)
			}
		}
	}
}

func checkPipeline(t *testing.T, d document, p *v1.Pipeline, tasks map[string]*v1.Task) {
	specs := map[string]*v1.TaskSpec{}
	all := append(append([]v1.PipelineTask{}, p.Spec.Tasks...), p.Spec.Finally...)
	for i := range all {
		pt := &all[i]
		switch {
		case pt.TaskSpec != nil:
			specs[pt.Name] = &pt.TaskSpec.TaskSpec
		case pt.TaskRef != nil && pt.TaskRef.Resolver == "":
			task, ok := tasks[pt.TaskRef.Name]
			if !ok {
				t.Errorf("%s: task %q references Task %q, which tekton/ does not define", d, pt.Name, pt.TaskRef.Name)
				continue
			}
			specs[pt.Name] = &task.Spec
		}
	}
	for i := range all {
		pt := &all[i]
		spec, ok := specs[pt.Name]
		if !ok {
			continue
		}
		checkParams(t, d.String(), "task "+pt.Name, spec.Params, pt.Params)
	}
	// Every $(tasks.X.results.Y) in the Pipeline must be a result that X's Task declares.
	raw, err := json.Marshal(p.Spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range resultRef.FindAllStringSubmatch(string(raw), -1) {
		spec, ok := specs[m[2]]
		if !ok {
			t.Errorf("%s: %s refers to an unknown task", d, m[0])
			continue
		}
		found := false
		for _, r := range spec.Results {
			found = found || r.Name == m[3]
		}
		if !found {
			t.Errorf("%s: %s: the task's Task declares no result %q", d, m[0], m[3])
		}
	}
}

// checkParams: every given parameter is declared, every declared one without default is given.
func checkParams(t *testing.T, where, target string, declared v1.ParamSpecs, given v1.Params) {
	names := map[string]bool{}
	for _, spec := range declared {
		names[spec.Name] = true
	}
	passed := map[string]bool{}
	for _, param := range given {
		passed[param.Name] = true
		if !names[param.Name] {
			t.Errorf("%s: passes %q, which %s does not declare", where, param.Name, target)
		}
	}
	for _, spec := range declared {
		if spec.Default == nil && !passed[spec.Name] {
			t.Errorf("%s: %s requires %q, which is not passed", where, target, spec.Name)
		}
	}
}

// binaryInterface is what `modelops-executor interface` prints: the command line as the binary's
// own parser defines it, and the Tekton results each subcommand writes.
type binaryInterface struct {
	GlobalFlags []cliFlag `json:"global_flags"`
	Subcommands []struct {
		Name    string    `json:"name"`
		Flags   []cliFlag `json:"flags"`
		Results []string  `json:"results"`
	} `json:"subcommands"`
}

type cliFlag struct {
	Long string  `json:"long"`
	Env  *string `json:"env"`
}

// readInterface reads the file scripts/tekton-validate.sh writes with the binary of this tree.
func readInterface(t *testing.T) binaryInterface {
	t.Helper()
	path := os.Getenv("MODELOPS_INTERFACE_JSON")
	if path == "" {
		t.Fatal("MODELOPS_INTERFACE_JSON is not set: run scripts/tekton-validate.sh, which writes it with `modelops-executor interface`")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var iface binaryInterface
	if err := json.Unmarshal(data, &iface); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return iface
}

// envAndResults gives, for a subcommand, the MODELOPS_* variable of each of its flags and of the
// global flags (by long name), and the results it writes.
func envAndResults(t *testing.T, iface binaryInterface, sub string) (map[string]string, []string) {
	t.Helper()
	env := map[string]string{}
	add := func(flags []cliFlag) {
		for _, f := range flags {
			if f.Env != nil {
				env[f.Long] = *f.Env
			}
		}
	}
	add(iface.GlobalFlags)
	for _, s := range iface.Subcommands {
		if s.Name == sub {
			add(s.Flags)
			results := append([]string(nil), s.Results...)
			sort.Strings(results)
			return env, results
		}
	}
	t.Fatalf("the binary has no subcommand %q", sub)
	return nil, nil
}

// flagForParam is the flag a Task parameter sets: the one of the same name (`ir-url` is `--ir`).
func flagForParam(param string) string {
	if param == "ir-url" {
		return "ir"
	}
	return param
}

// TestTasksMapToCLI checks that the modelops Tasks run the binary as intended: each parameter is
// handed to the variable of the flag of the same name, every MODELOPS_* variable is one of a
// flag of that subcommand (or a global one), the Task declares exactly the results the
// subcommand writes, results go to /tekton/results, and every step is non-root with a
// restricted security context. The binary describes itself (`modelops-executor interface`).
func TestTasksMapToCLI(t *testing.T) {
	iface := readInterface(t)
	subcommands := map[string]string{"modelops-install": "install", "modelops-wait": "wait", "modelops-finally": "finally", "modelops-validate": "validate"}
	for _, d := range load(t) {
		task, ok := d.object.(*v1.Task)
		if !ok {
			continue
		}
		sub, ours := subcommands[task.Name]
		if !ours {
			continue
		}
		delete(subcommands, task.Name)
		if len(task.Spec.Steps) != 1 {
			t.Errorf("%s: expected one step", d)
			continue
		}
		flagEnv, written := envAndResults(t, iface, sub)
		known := map[string]bool{}
		for _, name := range flagEnv {
			known[name] = true
		}
		step := task.Spec.Steps[0]
		if step.Image != "$(params.image)" {
			t.Errorf("%s: step image must be $(params.image), is %q", d, step.Image)
		}
		if len(step.Command) != 1 || step.Command[0] != "/usr/local/bin/modelops-executor" {
			t.Errorf("%s: command must be the binary (no registry lookup of the entrypoint), is %v", d, step.Command)
		}
		if len(step.Args) == 0 || step.Args[0] != sub {
			t.Errorf("%s: args must start with the subcommand %q, are %v", d, sub, step.Args)
		}
		env := map[string]string{}
		for _, e := range step.Env {
			env[e.Name] = e.Value
			if strings.HasPrefix(e.Name, "MODELOPS_") && !known[e.Name] {
				t.Errorf("%s: %s is not the variable of a flag of `modelops-executor %s`", d, e.Name, sub)
			}
		}
		if env["MODELOPS_RESULTS_DIR"] != "/tekton/results" {
			t.Errorf("%s: MODELOPS_RESULTS_DIR must be /tekton/results", d)
		}
		for _, p := range task.Spec.Params {
			switch p.Name {
			case "image":
				continue
			case "extra-args":
				if p.Type != v1.ParamTypeArray || !contains(step.Args, "$(params.extra-args[*])") {
					t.Errorf("%s: extra-args must be an array expanded into args", d)
				}
				continue
			case "artifact-credentials-source":
				// Not a flag: the optional Secret whose keys become install's environment, from
				// which --artifact-credentials from-env makes the job's own Secret.
				ok := len(step.EnvFrom) == 1 && step.EnvFrom[0].SecretRef != nil &&
					step.EnvFrom[0].SecretRef.Name == "$(params.artifact-credentials-source)" &&
					step.EnvFrom[0].SecretRef.Optional != nil && *step.EnvFrom[0].SecretRef.Optional
				if sub != "install" || !ok {
					t.Errorf("%s: artifact-credentials-source must be install's one optional envFrom Secret", d)
				}
				continue
			}
			want, ok := flagEnv[flagForParam(p.Name)]
			if !ok {
				t.Errorf("%s: parameter %q names no flag of `modelops-executor %s` with a variable", d, p.Name, sub)
				continue
			}
			if env[want] != "$(params."+p.Name+")" {
				t.Errorf("%s: parameter %q must be passed as %s=$(params.%s)", d, p.Name, want, p.Name)
			}
		}
		declared := []string{}
		for _, r := range task.Spec.Results {
			declared = append(declared, r.Name)
		}
		sort.Strings(declared)
		if strings.Join(declared, ",") != strings.Join(written, ",") {
			t.Errorf("%s: declares the results %v, but `modelops-executor %s` writes %v", d, declared, sub, written)
		}
		sc := task.Spec.StepTemplate.SecurityContext
		if step.SecurityContext != nil {
			sc = step.SecurityContext
		}
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", d)
		case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
			t.Errorf("%s: runAsNonRoot must be true", d)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation must be false", d)
		case sc.Capabilities == nil || !contains(capNames(sc.Capabilities.Drop), "ALL") || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities must drop ALL and add none", d)
		case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
			t.Errorf("%s: seccompProfile must be RuntimeDefault", d)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s: must not be privileged", d)
		}
	}
	for name := range subcommands {
		t.Errorf("Task %s is missing", name)
	}
}

func contains(items []string, want string) bool {
	for _, item := range items {
		if item == want {
			return true
		}
	}
	return false
}

func capNames(caps []corev1.Capability) []string {
	out := make([]string, len(caps))
	for i, c := range caps {
		out[i] = string(c)
	}
	return out
}

// clusterScoped are resources a namespaced Role cannot meaningfully grant.
var clusterScoped = map[string]bool{
	"namespaces": true, "nodes": true, "persistentvolumes": true, "clusterroles": true,
	"clusterrolebindings": true, "customresourcedefinitions": true, "storageclasses": true,
}

// writeVerbs may only be granted on the kinds the executor manages.
var writeVerbs = map[string]bool{"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true}

// TestRBAC checks least privilege: no wildcards, no escalation verbs, no Secrets or RBAC objects,
// writes only on the kinds the executor manages, bindings that resolve, and cluster-scoped rights
// only in the clearly marked optional file.
func TestRBAC(t *testing.T) {
	managed := map[string]bool{
		"/configmaps": true, "/services": true, "apps/deployments": true, "batch/jobs": true,
		"autoscaling/horizontalpodautoscalers": true,
		// Not a kind: validate POSTs sample inference requests through the service proxy, which
		// the API server authorizes as `create` on services/proxy.
		"/services/proxy": true,
	}
	docs := load(t)
	roles := map[string]bool{}
	accounts := map[string]bool{}
	for _, d := range docs {
		switch d.object.(type) {
		case *rbacv1.Role, *rbacv1.ClusterRole:
			roles[d.kind+"/"+d.name] = true
		case *corev1.ServiceAccount:
			accounts[d.name] = true
		}
	}
	checkRules := func(d document, rules []rbacv1.PolicyRule, cluster bool) {
		if len(rules) == 0 {
			t.Errorf("%s: no rules", d)
		}
		for i, rule := range rules {
			where := fmt.Sprintf("%s rules[%d]", d, i)
			if len(rule.NonResourceURLs) > 0 {
				t.Errorf("%s: nonResourceURLs are not needed (discovery is granted to every authenticated user)", where)
			}
			for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs} {
				if contains(list, "*") {
					t.Errorf("%s: wildcard", where)
				}
			}
			for _, verb := range rule.Verbs {
				if verb == "escalate" || verb == "bind" || verb == "impersonate" || verb == "update" || verb == "deletecollection" {
					t.Errorf("%s: verb %q is not used by the executor", where, verb)
				}
			}
			for _, resource := range rule.Resources {
				if strings.Contains(strings.Join(rule.APIGroups, ","), "rbac") {
					t.Errorf("%s: the executor never touches RBAC objects", where)
				}
				// Secrets: `get` of the one artifact credentials Secret the values name by default
				// (reference mode); create/patch/get/delete of the job-owned one only in the optional
				// from-env file. Never list or watch: no Secret is ever read in bulk.
				ownsCredentials := d.file == "tekton/rbac-artifact-credentials-from-env.yaml"
				if resource == "secrets" {
					named := len(rule.ResourceNames) == 1 && rule.ResourceNames[0] == "modelops-artifact-credentials"
					for _, verb := range rule.Verbs {
						allowed := (verb == "get" && (named || ownsCredentials)) ||
							(ownsCredentials && (verb == "create" || verb == "patch" || verb == "delete"))
						if !allowed {
							t.Errorf("%s: %s on secrets is not needed (resourceNames %v)", where, verb, rule.ResourceNames)
						}
					}
					continue
				}
				if clusterScoped[resource] && !cluster {
					t.Errorf("%s: %s is cluster-scoped; a Role cannot grant it", where, resource)
				}
				for _, group := range rule.APIGroups {
					for _, verb := range rule.Verbs {
						// cancel (rbac-cancel.yaml) patches the PipelineRun's spec.status.
						cancelsRun := d.file == "tekton/rbac-cancel.yaml" && group+"/"+resource == "tekton.dev/pipelineruns" && verb == "patch"
						if writeVerbs[verb] && !managed[group+"/"+resource] && !(cluster && resource == "namespaces" && verb == "create") && !cancelsRun {
							t.Errorf("%s: %s on %s/%s is not needed", where, verb, group, resource)
						}
					}
				}
			}
		}
	}
	checkSubjects := func(d document, subjects []rbacv1.Subject) {
		if len(subjects) == 0 {
			t.Errorf("%s: no subjects", d)
		}
		for _, s := range subjects {
			if s.Kind != rbacv1.ServiceAccountKind || !accounts[s.Name] {
				t.Errorf("%s: subject %s/%s is not the ServiceAccount of rbac.yaml", d, s.Kind, s.Name)
			}
		}
	}
	for _, d := range docs {
		optionalCluster := d.file == "tekton/rbac-create-namespace.yaml"
		switch o := d.object.(type) {
		case *rbacv1.Role:
			checkRules(d, o.Rules, false)
		case *rbacv1.ClusterRole:
			if !optionalCluster {
				t.Errorf("%s: cluster-scoped rights belong only in the optional rbac-create-namespace.yaml", d)
			}
			checkRules(d, o.Rules, true)
		case *rbacv1.RoleBinding:
			if !roles[o.RoleRef.Kind+"/"+o.RoleRef.Name] {
				t.Errorf("%s: roleRef %s/%s is not defined in tekton/", d, o.RoleRef.Kind, o.RoleRef.Name)
			}
			checkSubjects(d, o.Subjects)
		case *rbacv1.ClusterRoleBinding:
			if !optionalCluster {
				t.Errorf("%s: cluster-scoped rights belong only in the optional rbac-create-namespace.yaml", d)
			}
			if !roles[o.RoleRef.Kind+"/"+o.RoleRef.Name] {
				t.Errorf("%s: roleRef %s/%s is not defined in tekton/", d, o.RoleRef.Kind, o.RoleRef.Name)
			}
			checkSubjects(d, o.Subjects)
		}
	}
}

// TestCRDsMatchModule checks that tekton/crds/ holds the CRDs of the pinned Tekton module
// unchanged (the integration test applies them to the local control plane).
func TestCRDsMatchModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/tektoncd/pipeline").Output()
	if err != nil {
		t.Fatalf("go list the Tekton module: %v", err)
	}
	moduleDir := strings.TrimSpace(string(out))
	copies, _ := filepath.Glob(filepath.Join(tektonDir, "crds", "*.yaml"))
	if len(copies) < 3 {
		t.Fatalf("expected the Task, Pipeline and PipelineRun CRDs in tekton/crds/, found %v", copies)
	}
	for _, c := range copies {
		ours, _ := os.ReadFile(c)
		upstream, err := os.ReadFile(filepath.Join(moduleDir, "config", "300-crds", filepath.Base(c)))
		if err != nil {
			t.Errorf("%s: no such CRD in the module: %v", c, err)
			continue
		}
		if !bytes.Equal(ours, upstream) {
			t.Errorf("%s differs from %s/config/300-crds (run scripts/tekton-validate.sh --update-crds)", c, moduleDir)
		}
	}
}

// testclusterTektonModule builds the Tekton Pipelines and tkn that the end-to-end tests run
// (scripts/testcluster-tekton.sh); its Pipelines must be the version validated here.
const testclusterTektonModule = "testcluster/tekton/go.mod"

// requiredVersion returns the version a go.mod requires of module, in a require block or line.
func requiredVersion(gomod, module string) (string, bool) {
	for _, line := range strings.Split(gomod, "\n") {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(fields) >= 2 && fields[0] == module && strings.HasPrefix(fields[1], "v") {
			return fields[1], true
		}
	}
	return "", false
}

// TestTestclusterRunsTheValidatedVersion checks that the Tekton controller of the local test
// cluster is built at the Pipelines version this module validates against (the issue requires
// both to move together).
func TestTestclusterRunsTheValidatedVersion(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/tektoncd/pipeline").Output()
	if err != nil {
		t.Fatalf("go list the Tekton module: %v", err)
	}
	validated := strings.TrimSpace(string(out))
	gomod, err := os.ReadFile(filepath.Join(repoRoot, testclusterTektonModule))
	if err != nil {
		t.Fatal(err)
	}
	built, ok := requiredVersion(string(gomod), "github.com/tektoncd/pipeline")
	if !ok {
		t.Fatalf("%s requires no github.com/tektoncd/pipeline", testclusterTektonModule)
	}
	if built != validated {
		t.Errorf("%s builds github.com/tektoncd/pipeline %s, tekton/validate validates against %s: move both to the same version",
			testclusterTektonModule, built, validated)
	}
}

func TestRequiredVersion(t *testing.T) {
	gomod := "module m\n\nrequire github.com/a/b v1.2.3\n\nrequire (\n\tgithub.com/tektoncd/pipeline v1.14.1 // indirect\n\tgithub.com/tektoncd/pipeline-x v9.9.9\n)\n\ntool github.com/tektoncd/pipeline/cmd/controller\n"
	for module, want := range map[string]string{"github.com/a/b": "v1.2.3", "github.com/tektoncd/pipeline": "v1.14.1", "github.com/c/d": ""} {
		if got, ok := requiredVersion(gomod, module); got != want || ok != (want != "") {
			t.Errorf("requiredVersion(%s) = %q, %v; want %q", module, got, ok, want)
		}
	}
}

// TestValidatorRejects proves the checks above can fail: unknown fields (also below types with
// their own decoding) and Tekton validation errors are reported.
func TestValidatorRejects(t *testing.T) {
	unknown := map[string]string{
		"top level":  "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nspec: {steps: [{name: s, image: x}]}\nbogus: 1\n",
		"in a step":  "apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nspec: {steps: [{name: s, image: x, imagePullPolicyy: Always}]}\n",
		"in a param": "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  tasks: [{name: a, taskRef: {name: t}, params: [{name: x, valu: y}]}]\n",
		"in a rule":  "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules: [{apiGroups: [''], resources: [pods], verb: [get]}]\n",
		"duplicate":  "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\nmetadata: {name: b}\n",
	}
	for name, doc := range unknown {
		if _, err := decode("inline", 1, []byte(doc)); err == nil {
			t.Errorf("%s: decoding accepted %q", name, doc)
		}
	}
	invalid := "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  tasks:\n  - name: a\n    taskRef: {name: t}\n    params: [{name: x, value: $(params.undeclared)}]\n"
	d, err := decode("inline", 1, []byte(invalid))
	if err != nil {
		t.Fatal(err)
	}
	ctx := apis.WithinCreate(context.Background())
	p := d.object.(*v1.Pipeline)
	p.SetDefaults(ctx)
	if err := p.Validate(ctx); err == nil || !strings.Contains(err.Error(), "undeclared") {
		t.Errorf("Tekton accepted a reference to an undeclared parameter: %v", err)
	}
}
