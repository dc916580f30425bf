{{- /*
  Go-template twin of charts/modelops/templates/_helpers.tpl, for the Helm benchmark
  (bench/helm-compare.sh). Every partial prints YAML at column 0 without a trailing newline;
  callers place it with `include ... | nindent N`.
*/ -}}

{{- /* Metadata labels. Context: Values, Release, Chart, name, component. */ -}}
{{- define "modelops.labels" -}}
{{- with .Values.global.labels }}{{ toYaml . }}
{{ end -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/version: {{ quote (default .Chart.Version .Chart.AppVersion) }}
modelops.io/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- /* Selector labels. Context: Release, name, component. */ -}}
{{- define "modelops.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .component }}
modelops.io/job-id: {{ .Release.Name }}
{{- end }}

{{- /* <registry>/<repository>(@digest|:tag); registry: the image's, else global.registry.host;
  tag: the image's, else the chart's appVersion. Context: image, Values, Chart. */ -}}
{{- define "modelops.image" -}}
{{- if .image.registry }}{{ .image.registry }}{{ else }}{{ .Values.global.registry.host }}{{ end }}/{{ .image.repository }}
{{- if .image.digest }}@{{ .image.digest }}{{ else }}:{{ default .Chart.AppVersion .image.tag }}{{ end }}
{{- end }}

{{- /* Context: os. */ -}}
{{- define "modelops.podSecurityContext" -}}
runAsNonRoot: true
{{- if eq .os "windows" }}
windowsOptions:
  runAsUserName: ContainerUser
{{- else }}
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}
{{- end }}

{{- define "modelops.containerSecurityContext" -}}
runAsNonRoot: true
{{- if eq .os "windows" }}
windowsOptions:
  runAsUserName: ContainerUser
{{- else }}
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}
{{- end }}

{{- /* OpenTelemetry env. Context: Values, name. */ -}}
{{- define "modelops.traceEnv" -}}
- name: MODELOPS_TRACE_ENABLED
  value: "true"
- name: OTEL_SERVICE_NAME
  value: {{ quote .name }}
{{- if .Values.global.trace.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ quote .Values.global.trace.endpoint }}
{{- end }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
{{- if hasKey .Values.global.trace "samplingRatio" }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ quote .Values.global.trace.samplingRatio }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ quote (printf "modelops.job.id=%s,modelops.pipeline=%s" .Values.global.jobId .Values.global.pipeline) }}
{{- end }}
