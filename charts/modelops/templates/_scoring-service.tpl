{{!--
  The objects of one scoring service, shared by every scoring-service-<runtime> chart; each of
  those charts only picks its entry of Job.scoringServices and includes "modelops.scoring-service".

  "modelops.scoring-service" takes one Job.scoringServices entry; the other partials here take a
  dict of service (that entry) and os ("linux" | "windows", from the service's nodeSelector).
  @root.Values is the runtime chart's values.
--}}

{{#*inline "modelops.scoring-service"}}
{{#with (dict "service" this "os" (default "linux" nodeSelector.[kubernetes.io/os]))}}
---
{{include "modelops.scoring-service.configmap" this}}
---
{{include "modelops.scoring-service.deployment" this}}
---
{{include "modelops.scoring-service.service" this}}
---
{{include "modelops.scoring-service.hpa" this}}
{{~/with}}
{{/inline}}

{{#*inline "modelops.scoring-service.labels"}}
{{include "modelops.labels" (dict "name" service.name "component" "scoring-service")}}
modelops.io/runtime: {{service.runtime}}
{{/inline}}

{{#*inline "modelops.scoring-service.selectorLabels"}}
{{include "modelops.selectorLabels" (dict "name" service.name "component" "scoring-service")}}
{{/inline}}

{{!-- Where models land, and where the models ConfigMap is mounted, per pod OS. --}}
{{#*inline "modelops.scoring-service.modelDir"}}
{{#if (eq os "windows")}}C:\models{{else}}/models{{/if}}
{{/inline}}

{{#*inline "modelops.scoring-service.configDir"}}
{{#if (eq os "windows")}}C:\etc\modelops\models{{else}}/etc/modelops/models{{/if}}
{{/inline}}

{{!--
  ConfigMap <service>-models: the model list for the runtime (models.yaml) and the same list for
  the init container, `modelops-executor fetch-models --models models.json` (docs/artifact-stores.md).
--}}
{{#*inline "modelops.scoring-service.configmap"}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{service.name}}-models
  labels:{{nindent 4 (include "modelops.scoring-service.labels" this)}}
data:
  {{#if (eq @root.Values.server.modelSettings "mlserver")}}
  {{!-- MLServer finds its models as model-settings.json files under the folder it starts with;
        the deployment mounts mlserver-<i>.json as <i>/<name>/model-settings.json (the folder
        named as the model, as MLServer expects; docs/runtimes.md). --}}
  {{#each service.models}}
  mlserver-{{@index}}.json: {{squote (toJson (dict "name" name "implementation" @root.Values.server.implementation "parameters" (dict "uri" (printf "/models/%s/%s/%s" name version (base uri)) "version" version)))}}
  {{/each}}
  {{/if}}
  models.json: {{squote (toJson service.models)}}
  models.yaml: |
    # Models served by {{service.name}}. The init container fetch-models puts each
    # artifact under <modelDir>/<name>/<version>/ (archives unpacked) and verifies sha256 if given.
    runtime: {{service.runtime}}
    modelDir: {{squote (include "modelops.scoring-service.modelDir" this)}}
    models:
{{indent 6 (toYaml service.models)}}
{{/inline}}

{{#*inline "modelops.scoring-service.deployment"}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{service.name}}
  labels:{{nindent 4 (include "modelops.scoring-service.labels" this)}}
spec:
  {{!-- No replicas: the HorizontalPodAutoscaler owns the count. Setting it here would reset
        the autoscaler's choice (or conflict with it) on every re-install. --}}
  revisionHistoryLimit: {{@root.Values.revisionHistoryLimit}}
  {{#if (and @root.Values.modelReadiness.enabled (gt (len service.models) 1))}}
  {{!-- The probe asks one model; a pod must stay ready this long before it counts as
        available, longer than a failed start of another model takes to stop the server. --}}
  minReadySeconds: {{@root.Values.modelReadiness.minReadySeconds}}
  {{/if}}
  selector:
    matchLabels:{{nindent 6 (include "modelops.scoring-service.selectorLabels" this)}}
  template:
    metadata:
      labels:{{nindent 8 (include "modelops.scoring-service.labels" this)}}
      annotations:
        # A new model list rolls the pods.
        checksum/models: {{sha256sum (include "modelops.scoring-service.configmap" this)}}
        {{#each @root.Values.podAnnotations}}
        {{@key}}: {{quote this}}
        {{/each}}
    spec:
      {{#if (eq os "windows")}}
      os:
        name: windows
      {{/if}}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{@root.Values.terminationGracePeriodSeconds}}
      securityContext:{{nindent 8 (include "modelops.podSecurityContext" this)}}
      {{#if @root.Values.global.registry.imagePullSecrets}}
      imagePullSecrets:
        {{#each @root.Values.global.registry.imagePullSecrets}}
        - name: {{#if name}}{{name}}{{else}}{{this}}{{/if}}
        {{/each}}
      {{/if}}
      {{#if service.nodeSelector}}
      nodeSelector:{{nindent 8 (toYaml service.nodeSelector)}}
      {{/if}}
      {{#if @root.Values.tolerations}}
      tolerations:{{nindent 8 (toYaml @root.Values.tolerations)}}
      {{/if}}
      {{#if @root.Values.affinity}}
      affinity:{{nindent 8 (toYaml @root.Values.affinity)}}
      {{/if}}
      initContainers:
        # Downloads every model and checks its sha256; a failure keeps the runtime from starting.
        # The executor binary itself (docs/artifact-stores.md): `modelops-executor fetch-models`.
        - name: fetch-models
          {{#if (eq os "windows")}}
          image: {{include "modelops.image" @root.Values.global.images.executorWindows}}
          imagePullPolicy: {{@root.Values.global.images.executorWindows.pullPolicy}}
          command:
            - modelops-executor.exe
            - fetch-models
            - --models
            - 'C:\etc\modelops\models\models.json'
            - --model-dir
            - 'C:\models'
          {{else}}
          image: {{include "modelops.image" @root.Values.global.images.executor}}
          imagePullPolicy: {{@root.Values.global.images.executor.pullPolicy}}
          command:
            - /usr/local/bin/modelops-executor
            - fetch-models
            - --models
            - /etc/modelops/models/models.json
            - --model-dir
            - /models
            {{#if @root.Values.global.artifacts.credentialsSecret}}
            - --credentials-dir
            - /var/run/secrets/modelops/artifact-credentials
            {{/if}}
          {{/if}}
          env:
            - name: MODELOPS_FETCH_ATTEMPTS
              value: {{quote @root.Values.fetchModels.retries}}
          {{#if @root.Values.global.artifacts.credentialsSecret}}
          # Object-store credentials (AWS_*, GOOGLE_*, AZURE_STORAGE_*): the Secret's keys; a
          # Google service account's JSON is its key google-application-credentials.json, read
          # as a file from the mounted Secret (Linux). install checks the Secret before applying.
          envFrom:
            - secretRef:
                name: {{@root.Values.global.artifacts.credentialsSecret}}
                optional: true
          {{/if}}
          resources:{{nindent 12 (toYaml @root.Values.fetchModels.resources)}}
          securityContext:{{nindent 12 (include "modelops.containerSecurityContext" this)}}
          volumeMounts:
            - name: models
              mountPath: {{squote (include "modelops.scoring-service.modelDir" this)}}
            - name: models-config
              mountPath: {{squote (include "modelops.scoring-service.configDir" this)}}
              readOnly: true
            {{#unless (eq os "windows")}}
            - name: tmp
              mountPath: /tmp
            {{#if @root.Values.global.artifacts.credentialsSecret}}
            - name: artifact-credentials
              mountPath: /var/run/secrets/modelops/artifact-credentials
              readOnly: true
            {{/if}}
            {{/unless}}
      containers:
        - name: scoring-service
          image: {{include "modelops.image" @root.Values.image}}
          imagePullPolicy: {{@root.Values.image.pullPolicy}}
          {{#if @root.Values.server.command}}
          command:{{nindent 12 (toYaml @root.Values.server.command)}}
          {{/if}}
          {{#if @root.Values.server.args}}
          args:{{nindent 12 (toYaml @root.Values.server.args)}}
          {{/if}}
          ports:
            - name: http
              containerPort: {{@root.Values.port}}
              protocol: TCP
          env:
            - name: MODELOPS_JOB_ID
              value: {{quote @root.Values.global.jobId}}
            - name: MODELOPS_PIPELINE
              value: {{quote @root.Values.global.pipeline}}
            - name: MODELOPS_SCORING_SERVICE
              value: {{quote service.name}}
            - name: MODELOPS_RUNTIME
              value: {{quote service.runtime}}
            - name: MODEL_DIR
              value: {{squote (include "modelops.scoring-service.modelDir" this)}}
            - name: MODELS_CONFIG
              {{#if (eq os "windows")}}
              value: 'C:\etc\modelops\models\models.yaml'
              {{else}}
              value: /etc/modelops/models/models.yaml
              {{/if}}
            - name: PORT
              value: {{quote @root.Values.port}}
            {{#if @root.Values.global.trace.enabled}}
{{indent 12 (include "modelops.traceEnv" (dict "name" service.name))}}
            {{/if}}
            {{#each @root.Values.env}}
            - name: {{@key}}
              value: {{quote this}}
            {{/each}}
          {{#if @root.Values.probes.startup}}
          startupProbe:{{nindent 12 (toYaml @root.Values.probes.startup)}}
          {{/if}}
          {{#if (and @root.Values.modelReadiness.enabled service.models)}}
          {{!-- Ready when the models are: the V2 inference protocol's model readiness of the
                service's last model (values.yaml, modelReadiness). --}}
          readinessProbe:
            httpGet:
              {{#each service.models}}
              {{#if @last}}
              path: {{squote (printf "/v2/models/%s/versions/%s/ready" name version)}}
              {{/if}}
              {{/each}}
              port: {{toJson (default "http" @root.Values.probes.readiness.httpGet.port)}}
            {{!-- The chart's probe settings, but not its handler: the model probe is the handler. --}}
            {{#each @root.Values.probes.readiness}}
            {{#unless (or (eq @key "httpGet") (eq @key "exec") (eq @key "tcpSocket") (eq @key "grpc"))}}
            {{@key}}: {{toJson this}}
            {{/unless}}
            {{/each}}
          {{else}}
          readinessProbe:{{nindent 12 (toYaml @root.Values.probes.readiness)}}
          {{/if}}
          livenessProbe:{{nindent 12 (toYaml @root.Values.probes.liveness)}}
          resources:{{nindent 12 (toYaml (default @root.Values.resources @root.Values.global.resources.scoringService))}}
          securityContext:{{nindent 12 (include "modelops.containerSecurityContext" this)}}
          volumeMounts:
            - name: models
              mountPath: {{squote (include "modelops.scoring-service.modelDir" this)}}
              readOnly: true
            - name: models-config
              mountPath: {{squote (include "modelops.scoring-service.configDir" this)}}
              readOnly: true
            {{#if (eq @root.Values.server.modelSettings "mlserver")}}
            - name: model-settings
              mountPath: /etc/modelops/mlserver
              readOnly: true
            {{/if}}
            {{#unless (eq os "windows")}}
            - name: tmp
              mountPath: /tmp
            {{/unless}}
      volumes:
        {{#unless (eq os "windows")}}
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
        {{#if @root.Values.global.artifacts.credentialsSecret}}
        - name: artifact-credentials
          secret:
            secretName: {{@root.Values.global.artifacts.credentialsSecret}}
            optional: true
        {{/if}}
        {{/unless}}
        - name: models
          emptyDir:
            sizeLimit: {{@root.Values.modelVolume.sizeLimit}}
        - name: models-config
          configMap:
            name: {{service.name}}-models
        {{#if (eq @root.Values.server.modelSettings "mlserver")}}
        - name: model-settings
          configMap:
            name: {{service.name}}-models
            items:
              {{#each service.models}}
              - key: mlserver-{{@index}}.json
                path: {{@index}}/{{name}}/model-settings.json
              {{/each}}
        {{/if}}
{{/inline}}

{{#*inline "modelops.scoring-service.service"}}
apiVersion: v1
kind: Service
metadata:
  name: {{service.name}}
  labels:{{nindent 4 (include "modelops.scoring-service.labels" this)}}
spec:
  type: ClusterIP
  selector:{{nindent 4 (include "modelops.scoring-service.selectorLabels" this)}}
  ports:
    - name: http
      port: {{@root.Values.port}}
      targetPort: http
      protocol: TCP
{{/inline}}

{{#*inline "modelops.scoring-service.hpa"}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: scoringservice-{{service.name}}
  labels:{{nindent 4 (include "modelops.scoring-service.labels" this)}}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{service.name}}
  minReplicas: {{max service.replicas service.autoscaling.minReplicas}}
  maxReplicas: {{max service.replicas service.autoscaling.maxReplicas}}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{default 50 service.autoscaling.targetCPUUtilizationPercentage}}
{{/inline}}
