{{!--
  Objects of one scoring flow. Context of every partial: flow (one Job.scoringFlows entry),
  Values (this chart's values), Job, Release, Chart.
--}}

{{#*inline "scoring-flow.objects"}}
{{#unless (or (eq flow.mode "batch") (eq flow.mode "streaming"))}}
{{required (printf "scoring flow %s: mode %q is neither batch nor streaming" flow.name flow.mode) null}}
{{/unless}}
---
{{include "scoring-flow.configmap" this}}
{{!-- Each branch starts with text: a `~}}` followed by an expression also eats the newline after it. --}}
{{#if (eq flow.mode "batch")}}
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
{{include "modelops.labels" (dict "Values" Values "Release" Release "Chart" Chart "name" flow.name "component" "scoring-flow")}}
modelops.io/flow: {{flow.flow}}
{{/inline}}

{{#*inline "scoring-flow.selectorLabels"}}
{{include "modelops.selectorLabels" (dict "Release" Release "name" flow.name "component" "scoring-flow")}}
{{/inline}}

{{!-- The flow configuration the flow process loads from /etc/modelops/flow/flow.yaml. --}}
{{#*inline "scoring-flow.config"}}
# Scoring flow {{flow.flow}} of pipeline {{Values.global.pipeline}}, job {{Values.global.jobId}}.
pipeline: {{Values.global.pipeline}}
jobId: {{Values.global.jobId}}
flow: {{flow.flow}}
name: {{flow.name}}
mode: {{flow.mode}}
replicas: {{flow.replicas}}
source:{{nindent 2 (toYaml flow.source)}}
sink:{{nindent 2 (toYaml flow.sink)}}
parameters:{{nindent 2 (toYaml flow.parameters)}}
{{#if flow.scoringServices}}
scoringServices:
  {{#each flow.scoringServices}}
  - name: {{this}}
    url: http://{{this}}:{{@root.Values.scoringServicePort}}
  {{/each}}
{{else}}
scoringServices: []
{{/if}}
steps:{{nindent 2 (toYaml flow.steps)}}
{{/inline}}

{{#*inline "scoring-flow.configmap"}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{flow.name}}-config
  labels:{{nindent 4 (include "scoring-flow.labels" this)}}
data:
  flow.yaml: |
{{indent 4 (include "scoring-flow.config" this)}}
{{/inline}}

{{#*inline "scoring-flow.job"}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{flow.name}}
  labels:{{nindent 4 (include "scoring-flow.labels" this)}}
spec:
  # One pod per replica; each reads its shard (JOB_COMPLETION_INDEX of SHARD_COUNT).
  completions: {{flow.replicas}}
  parallelism: {{flow.replicas}}
  completionMode: Indexed
  backoffLimit: {{Values.job.backoffLimit}}
  {{#if Values.job.activeDeadlineSeconds}}
  activeDeadlineSeconds: {{Values.job.activeDeadlineSeconds}}
  {{/if}}
  {{#if Values.job.ttlSecondsAfterFinished}}
  ttlSecondsAfterFinished: {{Values.job.ttlSecondsAfterFinished}}
  {{/if}}
  template:{{nindent 4 (include "scoring-flow.podTemplate" (dict "flow" flow "Values" Values "Release" Release "Chart" Chart "restartPolicy" "Never"))}}
{{/inline}}

{{#*inline "scoring-flow.deployment"}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{flow.name}}
  labels:{{nindent 4 (include "scoring-flow.labels" this)}}
spec:
  {{!-- No replicas: the HorizontalPodAutoscaler scoringflow-<name> owns the count (its minimum
        is the flow's replicas), so a re-install never resets or fights the autoscaler. --}}
  revisionHistoryLimit: {{Values.revisionHistoryLimit}}
  selector:
    matchLabels:{{nindent 6 (include "scoring-flow.selectorLabels" this)}}
  template:{{nindent 4 (include "scoring-flow.podTemplate" (dict "flow" flow "Values" Values "Release" Release "Chart" Chart "restartPolicy" "Always"))}}
{{/inline}}

{{#*inline "scoring-flow.hpa"}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: scoringflow-{{flow.name}}
  labels:{{nindent 4 (include "scoring-flow.labels" this)}}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{flow.name}}
  minReplicas: {{max flow.replicas Values.autoscaling.minReplicas}}
  maxReplicas: {{max flow.replicas Values.autoscaling.maxReplicas}}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{Values.autoscaling.targetCPUUtilizationPercentage}}
{{/inline}}

{{!-- The pod template of a flow, for its Job or Deployment. Context adds restartPolicy. --}}
{{#*inline "scoring-flow.podTemplate"}}
metadata:
  labels:{{nindent 4 (include "scoring-flow.labels" this)}}
  annotations:
    # A new flow configuration rolls a streaming flow's pods.
    checksum/config: {{sha256sum (include "scoring-flow.configmap" this)}}
    {{#each Values.podAnnotations}}
    {{@key}}: {{quote this}}
    {{/each}}
spec:
  restartPolicy: {{restartPolicy}}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{Values.terminationGracePeriodSeconds}}
  securityContext:{{nindent 4 (include "modelops.podSecurityContext" (dict "os" "linux"))}}
  {{#if Values.global.registry.imagePullSecrets}}
  imagePullSecrets:
    {{#each Values.global.registry.imagePullSecrets}}
    - name: {{#if name}}{{name}}{{else}}{{this}}{{/if}}
    {{/each}}
  {{/if}}
  {{#if Values.nodeSelector}}
  nodeSelector:{{nindent 4 (toYaml Values.nodeSelector)}}
  {{/if}}
  {{#if Values.tolerations}}
  tolerations:{{nindent 4 (toYaml Values.tolerations)}}
  {{/if}}
  {{#if Values.affinity}}
  affinity:{{nindent 4 (toYaml Values.affinity)}}
  {{/if}}
  {{#if flow.scoringServices}}
  initContainers:
    # Holds the flow back until every scoring service it calls answers on /ready; gives up
    # (and fails the pod) after waitForScoringServices.timeoutSeconds.
    - name: wait-for-scoring-services
      image: {{include "modelops.image" (dict "image" Values.global.images.tools "Values" Values "Chart" Chart)}}
      imagePullPolicy: {{Values.global.images.tools.pullPolicy}}
      command:
        - /bin/sh
        - -c
        - |
          set -u
          deadline=$(( $(date +%s) + WAIT_TIMEOUT_SECONDS ))
          for service in $SCORING_SERVICES; do
            url="http://$service:$SCORING_SERVICE_PORT/ready"
            echo "wait-for-scoring-services: waiting for $url"
            attempts=0
            until curl -fs -o /dev/null --max-time 5 "$url"; do
              if [ "$(date +%s)" -ge "$deadline" ]; then
                echo "wait-for-scoring-services: ERROR: scoring service $service is not ready at $url after ${WAIT_TIMEOUT_SECONDS}s; see its pods: kubectl get pods -l app.kubernetes.io/name=$service" >&2
                exit 1
              fi
              attempts=$((attempts + 1))
              [ $((attempts % 12)) -ne 0 ] || echo "wait-for-scoring-services: still waiting for $url"
              sleep "$WAIT_INTERVAL_SECONDS"
            done
            echo "wait-for-scoring-services: $service is ready"
          done
      env:
        - name: SCORING_SERVICES
          value: "{{#each flow.scoringServices}}{{this}}{{#unless @last}} {{/unless}}{{/each}}"
        - name: SCORING_SERVICE_PORT
          value: {{quote Values.scoringServicePort}}
        - name: WAIT_TIMEOUT_SECONDS
          value: {{quote Values.waitForScoringServices.timeoutSeconds}}
        - name: WAIT_INTERVAL_SECONDS
          value: {{quote Values.waitForScoringServices.intervalSeconds}}
      resources:{{nindent 8 (toYaml Values.waitForScoringServices.resources)}}
      securityContext:{{nindent 8 (include "modelops.containerSecurityContext" (dict "os" "linux"))}}
  {{/if}}
  containers:
    - name: scoring-flow
      image: {{include "modelops.image" (dict "image" Values.image "Values" Values "Chart" Chart)}}
      imagePullPolicy: {{Values.image.pullPolicy}}
      ports:
        - name: http
          containerPort: {{Values.port}}
          protocol: TCP
      env:
        - name: JOB_ID
          value: {{quote Values.global.jobId}}
        - name: PIPELINE
          value: {{quote Values.global.pipeline}}
        - name: FLOW
          value: {{quote flow.flow}}
        - name: FLOW_NAME
          value: {{quote flow.name}}
        - name: FLOW_MODE
          value: {{quote flow.mode}}
        - name: FLOW_CONFIG
          value: /etc/modelops/flow/flow.yaml
        {{#if (eq flow.mode "batch")}}
        - name: SHARD_COUNT
          value: {{quote flow.replicas}}
        {{/if}}
        - name: PORT
          value: {{quote Values.port}}
        {{#if Values.global.gitServer.url}}
        - name: GIT_SERVER_URL
          value: {{quote Values.global.gitServer.url}}
        {{/if}}
        {{#if Values.global.gitServer.configRepo}}
        - name: GIT_CONFIG_REPO
          value: {{quote Values.global.gitServer.configRepo}}
        {{/if}}
        {{#if Values.global.trace.enabled}}
{{indent 8 (include "modelops.traceEnv" (dict "Values" Values "name" flow.name))}}
        {{/if}}
        {{#each Values.env}}
        - name: {{@key}}
          value: {{quote this}}
        {{/each}}
      {{#if (or flow.source.config.credentialsSecret flow.sink.config.credentialsSecret)}}
      # Data channel credentials, as SOURCE_* and SINK_* variables.
      envFrom:
        {{#if flow.source.config.credentialsSecret}}
        - prefix: SOURCE_
          secretRef:
            name: {{flow.source.config.credentialsSecret}}
        {{/if}}
        {{#if flow.sink.config.credentialsSecret}}
        - prefix: SINK_
          secretRef:
            name: {{flow.sink.config.credentialsSecret}}
        {{/if}}
      {{/if}}
      {{#if (eq flow.mode "streaming")}}
      readinessProbe:{{nindent 8 (toYaml Values.probes.readiness)}}
      livenessProbe:{{nindent 8 (toYaml Values.probes.liveness)}}
      {{/if}}
      resources:{{nindent 8 (toYaml (default Values.resources Values.global.resources.scoringFlow))}}
      securityContext:{{nindent 8 (include "modelops.containerSecurityContext" (dict "os" "linux"))}}
      volumeMounts:
        - name: config
          mountPath: /etc/modelops/flow
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{#if (or (eq flow.source.type "file") (eq flow.sink.type "file"))}}
        - name: data
          mountPath: {{Values.data.mountPath}}
        {{/if}}
  volumes:
    {{#if (or (eq flow.source.type "file") (eq flow.sink.type "file"))}}
    - name: data
{{indent 6 (toYaml Values.data.volume)}}
    {{/if}}
    - name: config
      configMap:
        name: {{flow.name}}-config
    - name: tmp
      emptyDir:
        sizeLimit: 256Mi
{{/inline}}
