{{!--
  Partials shared by every sub-chart (partial names are global across the chart tree).
  Convention: a partial reads chart-wide things from `@root` (the calling template's Values,
  Release, Chart, Job) and gets what varies as its argument (`this`); each partial says what
  that is. Partials print YAML starting at column 0 without a trailing newline, so callers place
  them with `{{nindent N (include "name" ctx)}}`. A partial that ends in an if/else keeps that
  promise with `{{~else~}}` and `{{~/if}}`; one that would end in an `each` loop is reordered so
  that it does not.
--}}

{{!-- Metadata labels. Argument: dict of name, component. --}}
{{#*inline "modelops.labels"}}
{{#if @root.Values.global.labels}}
{{toYaml @root.Values.global.labels}}
{{/if}}
app.kubernetes.io/name: {{name}}
app.kubernetes.io/instance: {{@root.Release.Name}}
app.kubernetes.io/component: {{component}}
app.kubernetes.io/version: {{quote (default @root.Chart.Version @root.Chart.AppVersion)}}
modelops.io/chart: {{@root.Chart.Name}}-{{@root.Chart.Version}}
{{/inline}}

{{!--
  Selector labels: a subset of modelops.labels that never changes for the life of an object
  (selectors are immutable). The job id keeps two jobs from ever selecting each other's pods.
  Argument: dict of name, component.
--}}
{{#*inline "modelops.selectorLabels"}}
app.kubernetes.io/name: {{name}}
app.kubernetes.io/component: {{component}}
modelops.io/job-id: {{@root.Release.Name}}
{{/inline}}

{{!--
  An image reference: `<registry>/<repository>` then `@<digest>` or `:<tag>` (default: the chart's
  appVersion). The registry is the image's own `registry`, else `global.registry.host`.
  Argument: the image {registry?, repository, tag?, digest?}.
--}}
{{#*inline "modelops.image"}}
{{#if registry}}{{registry}}{{else}}{{@root.Values.global.registry.host}}{{/if}}/{{repository}}{{#if digest}}@{{digest}}{{else}}:{{default @root.Chart.AppVersion tag}}{{/if}}
{{/inline}}

{{!--
  Pod-level security context: non-root, fixed uid/gid, RuntimeDefault seccomp. Windows pods
  (spec.os.name: windows) may not carry the Linux-only fields, so they run as ContainerUser.
  Argument: dict of os ("linux" | "windows").
--}}
{{#*inline "modelops.podSecurityContext"}}
runAsNonRoot: true
{{#if (eq os "windows")}}
windowsOptions:
  runAsUserName: ContainerUser
{{~else~}}
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{~/if}}
{{/inline}}

{{!-- Container-level security context, same policy. Argument: dict of os. --}}
{{#*inline "modelops.containerSecurityContext"}}
runAsNonRoot: true
{{#if (eq os "windows")}}
windowsOptions:
  runAsUserName: ContainerUser
{{~else~}}
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{~/if}}
{{/inline}}

{{!--
  OpenTelemetry settings for a container, from the job's `global.trace`; the caller checks
  `Values.global.trace.enabled` first. Argument: dict of name (the service name reported in traces).
--}}
{{#*inline "modelops.traceEnv"}}
- name: MODELOPS_TRACE_ENABLED
  value: "true"
- name: OTEL_SERVICE_NAME
  value: {{quote name}}
{{#if @root.Values.global.trace.endpoint}}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{quote @root.Values.global.trace.endpoint}}
{{/if}}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
{{!-- `each` instead of `if`: a ratio of 0 is a value, not an absent one. --}}
{{#each @root.Values.global.trace}}
{{#if (eq @key "samplingRatio")}}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{quote this}}
{{/if}}
{{/each}}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{quote (printf "modelops.job.id=%s,modelops.pipeline=%s" @root.Values.global.jobId @root.Values.global.pipeline)}}
{{/inline}}
