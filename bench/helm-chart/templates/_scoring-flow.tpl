{{- /*
  Go-template twin of charts/modelops/charts/scoring-flow/templates/_scoring-flow.tpl.
  Context of every partial: flow (one .Values.scoringFlows entry), Values (the scoring-flow
  sub-chart's coalesced values, with global), Release, Chart (the scoring-flow sub-chart's).
*/ -}}

{{- define "scoring-flow.labels" -}}
{{ include "modelops.labels" (dict "Values" .Values "Release" .Release "Chart" .Chart "name" .flow.name "component" "scoring-flow") }}
modelops.io/flow: {{ .flow.flow }}
{{- end }}

{{- define "scoring-flow.selectorLabels" -}}
{{ include "modelops.selectorLabels" (dict "Release" .Release "name" .flow.name "component" "scoring-flow") }}
{{- end }}

{{- define "scoring-flow.config" -}}
# Scoring flow {{ .flow.flow }} of pipeline {{ .Values.global.pipeline }}, job {{ .Values.global.jobId }}.
pipeline: {{ .Values.global.pipeline }}
jobId: {{ .Values.global.jobId }}
flow: {{ .flow.flow }}
name: {{ .flow.name }}
mode: {{ .flow.mode }}
replicas: {{ .flow.replicas }}
source:
{{- toYaml .flow.source | nindent 2 }}
sink:
{{- toYaml .flow.sink | nindent 2 }}
parameters:
{{- toYaml .flow.parameters | nindent 2 }}
{{- if .flow.scoringServices }}
scoringServices:
  {{- range .flow.scoringServices }}
  - name: {{ . }}
    url: http://{{ . }}:{{ $.Values.scoringServicePort }}
  {{- end }}
{{- else }}
scoringServices: []
{{- end }}
steps:
{{- toYaml .flow.steps | nindent 2 }}
{{- end }}

{{- define "scoring-flow.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .flow.name }}-config
  labels:
    {{- include "scoring-flow.labels" . | nindent 4 }}
data:
  flow.yaml: |
    {{- include "scoring-flow.config" . | nindent 4 }}
{{- end }}

{{- define "scoring-flow.job" -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .flow.name }}
  labels:
    {{- include "scoring-flow.labels" . | nindent 4 }}
spec:
  completions: {{ .flow.replicas }}
  parallelism: {{ .flow.replicas }}
  completionMode: Indexed
  backoffLimit: {{ .Values.job.backoffLimit }}
  {{- if .Values.job.activeDeadlineSeconds }}
  activeDeadlineSeconds: {{ .Values.job.activeDeadlineSeconds }}
  {{- end }}
  {{- if .Values.job.ttlSecondsAfterFinished }}
  ttlSecondsAfterFinished: {{ .Values.job.ttlSecondsAfterFinished }}
  {{- end }}
  template:
    {{- include "scoring-flow.podTemplate" . | nindent 4 }}
{{- end }}

{{- define "scoring-flow.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .flow.name }}
  labels:
    {{- include "scoring-flow.labels" . | nindent 4 }}
spec:
  revisionHistoryLimit: {{ .Values.revisionHistoryLimit }}
  selector:
    matchLabels:
      {{- include "scoring-flow.selectorLabels" . | nindent 6 }}
  template:
    {{- include "scoring-flow.podTemplate" . | nindent 4 }}
{{- end }}

{{- define "scoring-flow.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: scoringflow-{{ .flow.name }}
  labels:
    {{- include "scoring-flow.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .flow.name }}
  minReplicas: {{ max .flow.replicas .Values.autoscaling.minReplicas }}
  maxReplicas: {{ max .flow.replicas .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}

{{- define "scoring-flow.podTemplate" -}}
{{- $file := or (eq (dig "type" "" .flow.source) "file") (eq (dig "type" "" .flow.sink) "file") -}}
metadata:
  labels:
    {{- include "scoring-flow.labels" . | nindent 4 }}
  annotations:
    # A new flow configuration rolls a streaming flow's pods.
    checksum/config: {{ include "scoring-flow.configmap" . | sha256sum }}
    {{- range $key, $value := .Values.podAnnotations }}
    {{ $key }}: {{ quote $value }}
    {{- end }}
spec:
  restartPolicy: {{ if eq .flow.mode "batch" }}Never{{ else }}Always{{ end }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- include "modelops.podSecurityContext" (dict "os" "linux") | nindent 4 }}
  {{- if .Values.global.registry.imagePullSecrets }}
  imagePullSecrets:
    {{- range .Values.global.registry.imagePullSecrets }}
    - name: {{ if kindIs "map" . }}{{ .name }}{{ else }}{{ . }}{{ end }}
    {{- end }}
  {{- end }}
  {{- if .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml .Values.nodeSelector | nindent 4 }}
  {{- end }}
  {{- if .Values.tolerations }}
  tolerations:
    {{- toYaml .Values.tolerations | nindent 4 }}
  {{- end }}
  {{- if .Values.affinity }}
  affinity:
    {{- toYaml .Values.affinity | nindent 4 }}
  {{- end }}
  {{- if .flow.scoringServices }}
  initContainers:
    # Holds the flow back until every scoring service it calls answers ready on its health
    # endpoint; gives up (and fails the pod) after waitForScoringServices.timeoutSeconds.
    # The executor binary itself: `modelops-executor await-services`.
    - name: wait-for-scoring-services
      image: {{ include "modelops.image" (dict "image" .Values.global.images.executor "Values" .Values "Chart" .Chart) }}
      imagePullPolicy: {{ .Values.global.images.executor.pullPolicy }}
      command:
        - /usr/local/bin/modelops-executor
        - await-services
        {{- range .flow.scoringServices }}
        - --service
        - http://{{ . }}:{{ $.Values.scoringServicePort }}
        {{- end }}
        - --ready-path
        - {{ quote .Values.waitForScoringServices.readyPath }}
        - --timeout
        - {{ quote .Values.waitForScoringServices.timeoutSeconds }}
        - --interval
        - {{ quote .Values.waitForScoringServices.intervalSeconds }}
      resources:
        {{- toYaml .Values.waitForScoringServices.resources | nindent 8 }}
      securityContext:
        {{- include "modelops.containerSecurityContext" (dict "os" "linux") | nindent 8 }}
  {{- end }}
  containers:
    - name: scoring-flow
      image: {{ include "modelops.image" (dict "image" .Values.image "Values" .Values "Chart" .Chart) }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      ports:
        - name: http
          containerPort: {{ .Values.port }}
          protocol: TCP
      env:
        - name: JOB_ID
          value: {{ quote .Values.global.jobId }}
        - name: PIPELINE
          value: {{ quote .Values.global.pipeline }}
        - name: FLOW
          value: {{ quote .flow.flow }}
        - name: FLOW_NAME
          value: {{ quote .flow.name }}
        - name: FLOW_MODE
          value: {{ quote .flow.mode }}
        - name: FLOW_CONFIG
          value: /etc/modelops/flow/flow.yaml
        {{- if eq .flow.mode "batch" }}
        - name: SHARD_COUNT
          value: {{ quote .flow.replicas }}
        {{- end }}
        - name: PORT
          value: {{ quote .Values.port }}
        {{- if dig "gitServer" "url" "" .Values.global }}
        - name: GIT_SERVER_URL
          value: {{ quote .Values.global.gitServer.url }}
        {{- end }}
        {{- if dig "gitServer" "configRepo" "" .Values.global }}
        - name: GIT_CONFIG_REPO
          value: {{ quote .Values.global.gitServer.configRepo }}
        {{- end }}
        {{- if dig "trace" "enabled" false .Values.global }}
        {{- include "modelops.traceEnv" (dict "Values" .Values "name" .flow.name) | nindent 8 }}
        {{- end }}
        {{- range $key, $value := .Values.env }}
        - name: {{ $key }}
          value: {{ quote $value }}
        {{- end }}
      {{- $sourceSecret := dig "config" "credentialsSecret" "" .flow.source }}
      {{- $sinkSecret := dig "config" "credentialsSecret" "" .flow.sink }}
      {{- if or $sourceSecret $sinkSecret }}
      # Data channel credentials, as SOURCE_* and SINK_* variables.
      envFrom:
        {{- if $sourceSecret }}
        - prefix: SOURCE_
          secretRef:
            name: {{ $sourceSecret }}
        {{- end }}
        {{- if $sinkSecret }}
        - prefix: SINK_
          secretRef:
            name: {{ $sinkSecret }}
        {{- end }}
      {{- end }}
      {{- if eq .flow.mode "streaming" }}
      readinessProbe:
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      livenessProbe:
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      {{- end }}
      resources:
        {{- toYaml (default .Values.resources (dig "resources" "scoringFlow" nil .Values.global)) | nindent 8 }}
      securityContext:
        {{- include "modelops.containerSecurityContext" (dict "os" "linux") | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/modelops/flow
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- if $file }}
        - name: data
          mountPath: {{ .Values.data.mountPath }}
        {{- end }}
  volumes:
    {{- if $file }}
    - name: data
      {{- toYaml .Values.data.volume | nindent 6 }}
    {{- end }}
    - name: config
      configMap:
        name: {{ .flow.name }}-config
    - name: tmp
      emptyDir:
        sizeLimit: 256Mi
{{- end }}
