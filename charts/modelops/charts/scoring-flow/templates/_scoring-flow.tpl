{{!--
  Objects of one scoring flow. Every partial here takes the flow (one Job.scoringFlows entry) as
  its argument, so `name`, `mode`, `source`... are the flow's; @root.Values is this chart's values.
--}}

{{#*inline "scoring-flow.objects"}}
{{#unless (or (eq mode "batch") (eq mode "streaming"))}}
{{required (printf "scoring flow %s: mode %q is neither batch nor streaming" name mode) null}}
{{/unless}}
---
{{include "scoring-flow.configmap" this}}
{{!-- Each branch starts with text: a `~}}` followed by an expression also eats the newline after it. --}}
{{#if (eq mode "batch")}}
---
{{include "scoring-flow.job" this}}
{{~else~}}
---
{{include "scoring-flow.deployment" this}}
---
{{include "scoring-flow.hpa" this}}
{{~/if}}
{{/inline}}

{{#*inline "scoring-flow.labels"}}
{{include "modelops.labels" (dict "name" name "component" "scoring-flow")}}
modelops.io/flow: {{flow}}
{{/inline}}

{{#*inline "scoring-flow.selectorLabels"}}
{{include "modelops.selectorLabels" (dict "name" name "component" "scoring-flow")}}
{{/inline}}

{{!-- The flow configuration the flow process loads from /etc/modelops/flow/flow.yaml. --}}
{{#*inline "scoring-flow.config"}}
# Scoring flow {{flow}} of pipeline {{@root.Values.global.pipeline}}, job {{@root.Values.global.jobId}}.
pipeline: {{@root.Values.global.pipeline}}
jobId: {{@root.Values.global.jobId}}
flow: {{flow}}
name: {{name}}
mode: {{mode}}
replicas: {{replicas}}
source:{{nindent 2 (toYaml source)}}
sink:{{nindent 2 (toYaml sink)}}
parameters:{{nindent 2 (toYaml parameters)}}
{{#if scoringServices}}
scoringServices:
  {{#each scoringServices}}
  - name: {{this}}
    url: http://{{this}}:{{@root.Values.scoringServicePort}}
  {{/each}}
{{else}}
scoringServices: []
{{/if}}
steps:{{nindent 2 (toYaml steps)}}
{{/inline}}

{{#*inline "scoring-flow.configmap"}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{name}}-config
  labels:{{nindent 4 (include "scoring-flow.labels" this)}}
data:
  flow.yaml: |
{{indent 4 (include "scoring-flow.config" this)}}
{{/inline}}

{{#*inline "scoring-flow.job"}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{name}}
  labels:{{nindent 4 (include "scoring-flow.labels" this)}}
spec:
  # One pod per replica; each reads its shard (JOB_COMPLETION_INDEX of SHARD_COUNT).
  completions: {{replicas}}
  parallelism: {{replicas}}
  completionMode: Indexed
  backoffLimit: {{@root.Values.job.backoffLimit}}
  {{#if @root.Values.job.activeDeadlineSeconds}}
  activeDeadlineSeconds: {{@root.Values.job.activeDeadlineSeconds}}
  {{/if}}
  {{#if @root.Values.job.ttlSecondsAfterFinished}}
  ttlSecondsAfterFinished: {{@root.Values.job.ttlSecondsAfterFinished}}
  {{/if}}
  template:{{nindent 4 (include "scoring-flow.podTemplate" this)}}
{{/inline}}

{{#*inline "scoring-flow.deployment"}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{name}}
  labels:{{nindent 4 (include "scoring-flow.labels" this)}}
spec:
  {{!-- No replicas: the HorizontalPodAutoscaler scoringflow-<name> owns the count (its minimum
        is the flow's replicas), so a re-install never resets or fights the autoscaler. --}}
  revisionHistoryLimit: {{@root.Values.revisionHistoryLimit}}
  selector:
    matchLabels:{{nindent 6 (include "scoring-flow.selectorLabels" this)}}
  template:{{nindent 4 (include "scoring-flow.podTemplate" this)}}
{{/inline}}

{{#*inline "scoring-flow.hpa"}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: scoringflow-{{name}}
  labels:{{nindent 4 (include "scoring-flow.labels" this)}}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{name}}
  minReplicas: {{max replicas @root.Values.autoscaling.minReplicas}}
  maxReplicas: {{max replicas @root.Values.autoscaling.maxReplicas}}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{@root.Values.autoscaling.targetCPUUtilizationPercentage}}
{{/inline}}

{{!-- The pod template of a flow, for its Job (restartPolicy Never) or Deployment (Always). --}}
{{#*inline "scoring-flow.podTemplate"}}
metadata:
  labels:{{nindent 4 (include "scoring-flow.labels" this)}}
  annotations:
    # A new flow configuration rolls a streaming flow's pods.
    checksum/config: {{sha256sum (include "scoring-flow.configmap" this)}}
    {{#each @root.Values.podAnnotations}}
    {{@key}}: {{quote this}}
    {{/each}}
spec:
  restartPolicy: {{#if (eq mode "batch")}}Never{{else}}Always{{/if}}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{@root.Values.terminationGracePeriodSeconds}}
  securityContext:{{nindent 4 (include "modelops.podSecurityContext" (dict "os" "linux"))}}
  {{#if @root.Values.global.registry.imagePullSecrets}}
  imagePullSecrets:
    {{#each @root.Values.global.registry.imagePullSecrets}}
    - name: {{#if name}}{{name}}{{else}}{{this}}{{/if}}
    {{/each}}
  {{/if}}
  {{#if @root.Values.nodeSelector}}
  nodeSelector:{{nindent 4 (toYaml @root.Values.nodeSelector)}}
  {{/if}}
  {{#if @root.Values.tolerations}}
  tolerations:{{nindent 4 (toYaml @root.Values.tolerations)}}
  {{/if}}
  {{#if @root.Values.affinity}}
  affinity:{{nindent 4 (toYaml @root.Values.affinity)}}
  {{/if}}
  {{#if scoringServices}}
  initContainers:
    # Holds the flow back until every scoring service it calls answers ready on its health
    # endpoint; gives up (and fails the pod) after waitForScoringServices.timeoutSeconds.
    # The executor binary itself (docs/artifact-stores.md): `modelops-executor await-services`.
    - name: wait-for-scoring-services
      image: {{include "modelops.image" @root.Values.global.images.executor}}
      imagePullPolicy: {{@root.Values.global.images.executor.pullPolicy}}
      command:
        - /usr/local/bin/modelops-executor
        - await-services
        {{#each scoringServices}}
        - --service
        - http://{{this}}:{{@root.Values.scoringServicePort}}
        {{/each}}
        - --ready-path
        - {{quote @root.Values.waitForScoringServices.readyPath}}
        - --timeout
        - {{quote @root.Values.waitForScoringServices.timeoutSeconds}}
        - --interval
        - {{quote @root.Values.waitForScoringServices.intervalSeconds}}
      resources:{{nindent 8 (toYaml @root.Values.waitForScoringServices.resources)}}
      securityContext:{{nindent 8 (include "modelops.containerSecurityContext" (dict "os" "linux"))}}
  {{/if}}
  containers:
    - name: scoring-flow
      image: {{include "modelops.image" @root.Values.image}}
      imagePullPolicy: {{@root.Values.image.pullPolicy}}
      ports:
        - name: http
          containerPort: {{@root.Values.port}}
          protocol: TCP
      env:
        - name: JOB_ID
          value: {{quote @root.Values.global.jobId}}
        - name: PIPELINE
          value: {{quote @root.Values.global.pipeline}}
        - name: FLOW
          value: {{quote flow}}
        - name: FLOW_NAME
          value: {{quote name}}
        - name: FLOW_MODE
          value: {{quote mode}}
        - name: FLOW_CONFIG
          value: /etc/modelops/flow/flow.yaml
        {{#if (eq mode "batch")}}
        - name: SHARD_COUNT
          value: {{quote replicas}}
        {{/if}}
        - name: PORT
          value: {{quote @root.Values.port}}
        {{#if @root.Values.global.gitServer.url}}
        - name: GIT_SERVER_URL
          value: {{quote @root.Values.global.gitServer.url}}
        {{/if}}
        {{#if @root.Values.global.gitServer.configRepo}}
        - name: GIT_CONFIG_REPO
          value: {{quote @root.Values.global.gitServer.configRepo}}
        {{/if}}
        {{#if @root.Values.global.trace.enabled}}
{{indent 8 (include "modelops.traceEnv" (dict "name" name))}}
        {{/if}}
        {{#each @root.Values.env}}
        - name: {{@key}}
          value: {{quote this}}
        {{/each}}
      {{#if (or source.config.credentialsSecret sink.config.credentialsSecret)}}
      # Data channel credentials, as SOURCE_* and SINK_* variables.
      envFrom:
        {{#if source.config.credentialsSecret}}
        - prefix: SOURCE_
          secretRef:
            name: {{source.config.credentialsSecret}}
        {{/if}}
        {{#if sink.config.credentialsSecret}}
        - prefix: SINK_
          secretRef:
            name: {{sink.config.credentialsSecret}}
        {{/if}}
      {{/if}}
      {{#if (eq mode "streaming")}}
      readinessProbe:{{nindent 8 (toYaml @root.Values.probes.readiness)}}
      livenessProbe:{{nindent 8 (toYaml @root.Values.probes.liveness)}}
      {{/if}}
      resources:{{nindent 8 (toYaml (default @root.Values.resources @root.Values.global.resources.scoringFlow))}}
      securityContext:{{nindent 8 (include "modelops.containerSecurityContext" (dict "os" "linux"))}}
      volumeMounts:
        - name: config
          mountPath: /etc/modelops/flow
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{#if (or (eq source.type "file") (eq sink.type "file"))}}
        - name: data
          mountPath: {{@root.Values.data.mountPath}}
        {{/if}}
  volumes:
    {{#if (or (eq source.type "file") (eq sink.type "file"))}}
    - name: data
{{indent 6 (toYaml @root.Values.data.volume)}}
    {{/if}}
    - name: config
      configMap:
        name: {{name}}-config
    - name: tmp
      emptyDir:
        sizeLimit: 256Mi
{{/inline}}
