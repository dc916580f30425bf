{{!--
  Partials shared by every sub-chart (partial names are global across the chart tree).
  Convention: a partial's context is a `dict` built by the caller; each partial says which keys it
  reads. Partials print YAML starting at column 0 without a trailing newline, so callers place
  them with `{{nindent N (include "name" ctx)}}`. A partial that ends in an if/else keeps that
  promise with `{{~else~}}` and `{{~/if}}`; one that would end in an `each` loop is reordered so
  that it does not.
--}}

{{!-- Metadata labels. Context: Job, Release, Chart, name, component. --}}
{{#*inline "modelops.labels"}}
{{#if Values.global.labels}}
{{toYaml Values.global.labels}}
{{/if}}
app.kubernetes.io/name: {{name}}
app.kubernetes.io/instance: {{Release.Name}}
app.kubernetes.io/component: {{component}}
app.kubernetes.io/version: {{quote (default Chart.Version Chart.AppVersion)}}
modelops.io/chart: {{Chart.Name}}-{{Chart.Version}}
{{/inline}}

{{!--
  Selector labels: a subset of modelops.labels that never changes for the life of an object
  (selectors are immutable). The job id keeps two jobs from ever selecting each other's pods.
  Context: Release, name, component.
--}}
{{#*inline "modelops.selectorLabels"}}
app.kubernetes.io/name: {{name}}
app.kubernetes.io/component: {{component}}
modelops.io/job-id: {{Release.Name}}
{{/inline}}

{{!--
  An image reference: `<registry>/<repository>` then `@<digest>` or `:<tag>` (default: the chart's
  appVersion). The registry is the image's own `registry`, else `global.registry.host`.
  Context: image {registry?, repository, tag?, digest?}, Values, Chart.
--}}
{{#*inline "modelops.image"}}
{{#if image.registry}}{{image.registry}}{{else}}{{Values.global.registry.host}}{{/if}}/{{image.repository}}{{#if image.digest}}@{{image.digest}}{{else}}:{{default Chart.AppVersion image.tag}}{{/if}}
{{/inline}}

{{!--
  Pod-level security context: non-root, fixed uid/gid, RuntimeDefault seccomp. Windows pods
  (spec.os.name: windows) may not carry the Linux-only fields, so they run as ContainerUser.
  Context: os ("linux" | "windows").
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

{{!-- Container-level security context, same policy. Context: os. --}}
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
  `Values.global.trace.enabled` first. Context: Job, name (the service name reported in traces).
--}}
{{#*inline "modelops.traceEnv"}}
- name: MODELOPS_TRACE_ENABLED
  value: "true"
- name: OTEL_SERVICE_NAME
  value: {{quote name}}
{{#if Values.global.trace.endpoint}}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{quote Values.global.trace.endpoint}}
{{/if}}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
{{!-- `each` instead of `if`: a ratio of 0 is a value, not an absent one. --}}
{{#each Values.global.trace}}
{{#if (eq @key "samplingRatio")}}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{quote this}}
{{/if}}
{{/each}}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{quote (printf "modelops.job.id=%s,modelops.pipeline=%s" Values.global.jobId Values.global.pipeline)}}
{{/inline}}
