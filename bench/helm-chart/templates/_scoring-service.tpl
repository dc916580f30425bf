{{- /*
  Go-template twin of charts/modelops/templates/_scoring-service.tpl. Context of every partial:
  service (one .Values.scoringServices entry), Values (the scoring-service-<runtime> sub-chart's
  coalesced values, with global), Release, Chart (that sub-chart's), os ("linux" | "windows").
  Values the Handlebars chart reads through a missing parent (global.resources.scoringService,
  global.artifacts.credentialsSecret) are read with `dig`: Go templates fail on a nil map where
  Handlebars gives nothing.
*/ -}}

{{- define "modelops.scoring-service.labels" -}}
{{ include "modelops.labels" (dict "Values" .Values "Release" .Release "Chart" .Chart "name" .service.name "component" "scoring-service") }}
modelops.io/runtime: {{ .service.runtime }}
{{- end }}

{{- define "modelops.scoring-service.selectorLabels" -}}
{{ include "modelops.selectorLabels" (dict "Release" .Release "name" .service.name "component" "scoring-service") }}
{{- end }}

{{- define "modelops.scoring-service.modelDir" -}}
{{ if eq .os "windows" }}C:\models{{ else }}/models{{ end }}
{{- end }}

{{- define "modelops.scoring-service.configDir" -}}
{{ if eq .os "windows" }}C:\etc\modelops\models{{ else }}/etc/modelops/models{{ end }}
{{- end }}

{{- /* True ("true") when the runtime's server is MLServer (server.modelSettings: mlserver). */ -}}
{{- define "modelops.scoring-service.mlserver" -}}
{{ if eq (toString (dig "modelSettings" "" (default dict .Values.server))) "mlserver" }}true{{ end }}
{{- end }}

{{- /* The Secret of object-store credentials, or "". */ -}}
{{- define "modelops.scoring-service.credentialsSecret" -}}
{{ dig "artifacts" "credentialsSecret" "" .Values.global }}
{{- end }}

{{- define "modelops.scoring-service.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .service.name }}-models
  labels:
    {{- include "modelops.scoring-service.labels" . | nindent 4 }}
data:
  {{- if include "modelops.scoring-service.mlserver" . }}
  {{- /* MLServer finds its models as model-settings.json files under the folder it starts with;
        the deployment mounts mlserver-<i>.json as <i>/<name>/model-settings.json. */}}
  {{- range $i, $model := .service.models }}
  mlserver-{{ $i }}.json: {{ squote (toJson (dict "name" $model.name "implementation" $.Values.server.implementation "parameters" (dict "uri" (printf "/models/%s/%s/%s" $model.name $model.version (base $model.uri)) "version" $model.version))) }}
  {{- end }}
  {{- end }}
  models.json: {{ squote (toJson .service.models) }}
  models.yaml: |
    # Models served by {{ .service.name }}. The init container fetch-models puts each
    # artifact under <modelDir>/<name>/<version>/ (archives unpacked) and verifies sha256 if given.
    runtime: {{ .service.runtime }}
    modelDir: {{ squote (include "modelops.scoring-service.modelDir" .) }}
    models:
      {{- toYaml .service.models | nindent 6 }}
{{- end }}

{{- define "modelops.scoring-service.deployment" -}}
{{- $windows := eq .os "windows" -}}
{{- $mlserver := include "modelops.scoring-service.mlserver" . -}}
{{- $credentials := include "modelops.scoring-service.credentialsSecret" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .service.name }}
  labels:
    {{- include "modelops.scoring-service.labels" . | nindent 4 }}
spec:
  revisionHistoryLimit: {{ .Values.revisionHistoryLimit }}
  selector:
    matchLabels:
      {{- include "modelops.scoring-service.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "modelops.scoring-service.labels" . | nindent 8 }}
      annotations:
        # A new model list rolls the pods.
        checksum/models: {{ include "modelops.scoring-service.configmap" . | sha256sum }}
        {{- range $key, $value := .Values.podAnnotations }}
        {{ $key }}: {{ quote $value }}
        {{- end }}
    spec:
      {{- if $windows }}
      os:
        name: windows
      {{- end }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "modelops.podSecurityContext" . | nindent 8 }}
      {{- if .Values.global.registry.imagePullSecrets }}
      imagePullSecrets:
        {{- range .Values.global.registry.imagePullSecrets }}
        - name: {{ if kindIs "map" . }}{{ .name }}{{ else }}{{ . }}{{ end }}
        {{- end }}
      {{- end }}
      {{- if .service.nodeSelector }}
      nodeSelector:
        {{- toYaml .service.nodeSelector | nindent 8 }}
      {{- end }}
      {{- if .Values.tolerations }}
      tolerations:
        {{- toYaml .Values.tolerations | nindent 8 }}
      {{- end }}
      {{- if .Values.affinity }}
      affinity:
        {{- toYaml .Values.affinity | nindent 8 }}
      {{- end }}
      initContainers:
        # Downloads every model and checks its sha256; a failure keeps the runtime from starting.
        # The executor binary itself: `modelops-executor fetch-models`.
        - name: fetch-models
          {{- if $windows }}
          image: {{ include "modelops.image" (dict "image" .Values.global.images.executorWindows "Values" .Values "Chart" .Chart) }}
          imagePullPolicy: {{ .Values.global.images.executorWindows.pullPolicy }}
          command:
            - modelops-executor.exe
            - fetch-models
            - --models
            - 'C:\etc\modelops\models\models.json'
            - --model-dir
            - 'C:\models'
          {{- else }}
          image: {{ include "modelops.image" (dict "image" .Values.global.images.executor "Values" .Values "Chart" .Chart) }}
          imagePullPolicy: {{ .Values.global.images.executor.pullPolicy }}
          command:
            - /usr/local/bin/modelops-executor
            - fetch-models
            - --models
            - /etc/modelops/models/models.json
            - --model-dir
            - /models
            {{- if $credentials }}
            - --credentials-dir
            - /var/run/secrets/modelops/artifact-credentials
            {{- end }}
          {{- end }}
          env:
            - name: MODELOPS_FETCH_ATTEMPTS
              value: {{ quote .Values.fetchModels.retries }}
          {{- if $credentials }}
          # Object-store credentials (AWS_*, GOOGLE_*, AZURE_STORAGE_*): the Secret's keys.
          envFrom:
            - secretRef:
                name: {{ $credentials }}
                optional: true
          {{- end }}
          resources:
            {{- toYaml .Values.fetchModels.resources | nindent 12 }}
          securityContext:
            {{- include "modelops.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: models
              mountPath: {{ squote (include "modelops.scoring-service.modelDir" .) }}
            - name: models-config
              mountPath: {{ squote (include "modelops.scoring-service.configDir" .) }}
              readOnly: true
            {{- if not $windows }}
            - name: tmp
              mountPath: /tmp
            {{- if $credentials }}
            - name: artifact-credentials
              mountPath: /var/run/secrets/modelops/artifact-credentials
              readOnly: true
            {{- end }}
            {{- end }}
      containers:
        - name: scoring-service
          image: {{ include "modelops.image" (dict "image" .Values.image "Values" .Values "Chart" .Chart) }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          {{- with dig "command" nil (default dict .Values.server) }}
          command:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with dig "args" nil (default dict .Values.server) }}
          args:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            - name: http
              containerPort: {{ .Values.port }}
              protocol: TCP
          env:
            - name: MODELOPS_JOB_ID
              value: {{ quote .Values.global.jobId }}
            - name: MODELOPS_PIPELINE
              value: {{ quote .Values.global.pipeline }}
            - name: MODELOPS_SCORING_SERVICE
              value: {{ quote .service.name }}
            - name: MODELOPS_RUNTIME
              value: {{ quote .service.runtime }}
            - name: MODEL_DIR
              value: {{ squote (include "modelops.scoring-service.modelDir" .) }}
            - name: MODELS_CONFIG
              {{- if $windows }}
              value: 'C:\etc\modelops\models\models.yaml'
              {{- else }}
              value: /etc/modelops/models/models.yaml
              {{- end }}
            - name: PORT
              value: {{ quote .Values.port }}
            {{- if dig "trace" "enabled" false .Values.global }}
            {{- include "modelops.traceEnv" (dict "Values" .Values "name" .service.name) | nindent 12 }}
            {{- end }}
            {{- range $key, $value := .Values.env }}
            - name: {{ $key }}
              value: {{ quote $value }}
            {{- end }}
          {{- if .Values.probes.startup }}
          startupProbe:
            {{- toYaml .Values.probes.startup | nindent 12 }}
          {{- end }}
          readinessProbe:
            {{- toYaml .Values.probes.readiness | nindent 12 }}
          livenessProbe:
            {{- toYaml .Values.probes.liveness | nindent 12 }}
          resources:
            {{- toYaml (default .Values.resources (dig "resources" "scoringService" nil .Values.global)) | nindent 12 }}
          securityContext:
            {{- include "modelops.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: models
              mountPath: {{ squote (include "modelops.scoring-service.modelDir" .) }}
              readOnly: true
            - name: models-config
              mountPath: {{ squote (include "modelops.scoring-service.configDir" .) }}
              readOnly: true
            {{- if $mlserver }}
            - name: model-settings
              mountPath: /etc/modelops/mlserver
              readOnly: true
            {{- end }}
            {{- if not $windows }}
            - name: tmp
              mountPath: /tmp
            {{- end }}
      volumes:
        {{- if not $windows }}
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
        {{- if $credentials }}
        - name: artifact-credentials
          secret:
            secretName: {{ $credentials }}
            optional: true
        {{- end }}
        {{- end }}
        - name: models
          emptyDir:
            sizeLimit: {{ .Values.modelVolume.sizeLimit }}
        - name: models-config
          configMap:
            name: {{ .service.name }}-models
        {{- if $mlserver }}
        - name: model-settings
          configMap:
            name: {{ .service.name }}-models
            items:
              {{- range $i, $model := .service.models }}
              - key: mlserver-{{ $i }}.json
                path: {{ $i }}/{{ $model.name }}/model-settings.json
              {{- end }}
        {{- end }}
{{- end }}

{{- define "modelops.scoring-service.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .service.name }}
  labels:
    {{- include "modelops.scoring-service.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "modelops.scoring-service.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.port }}
      targetPort: http
      protocol: TCP
{{- end }}

{{- define "modelops.scoring-service.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: scoringservice-{{ .service.name }}
  labels:
    {{- include "modelops.scoring-service.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .service.name }}
  minReplicas: {{ max .service.replicas .service.autoscaling.minReplicas }}
  maxReplicas: {{ max .service.replicas .service.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ default 50 .service.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
