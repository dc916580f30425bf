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
  ConfigMap <service>-models: the model list for the runtime (models.yaml), the same list for the
  init container (models.json) and the init container's download script for the pod's OS.
--}}
{{#*inline "modelops.scoring-service.configmap"}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{service.name}}-models
  labels:{{nindent 4 (include "modelops.scoring-service.labels" this)}}
data:
  {{#if (eq os "windows")}}
  fetch-models.ps1: |
{{indent 4 (include "modelops.scoring-service.fetchModelsPs1" this)}}
  {{else}}
  fetch-models.sh: |
{{indent 4 (include "modelops.scoring-service.fetchModelsSh" this)}}
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
  selector:
    matchLabels:{{nindent 6 (include "modelops.scoring-service.selectorLabels" this)}}
  template:
    metadata:
      labels:{{nindent 8 (include "modelops.scoring-service.labels" this)}}
      annotations:
        # A new model list (or download script) rolls the pods.
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
        - name: fetch-models
          {{#if (eq os "windows")}}
          image: {{include "modelops.image" @root.Values.global.images.toolsWindows}}
          imagePullPolicy: {{@root.Values.global.images.toolsWindows.pullPolicy}}
          command:
            - powershell.exe
            - -NoLogo
            - -NoProfile
            - -NonInteractive
            - -ExecutionPolicy
            - Bypass
            - -File
            - 'C:\etc\modelops\models\fetch-models.ps1'
          {{else}}
          image: {{include "modelops.image" @root.Values.global.images.tools}}
          imagePullPolicy: {{@root.Values.global.images.tools.pullPolicy}}
          command:
            - /bin/sh
            - /etc/modelops/models/fetch-models.sh
          {{/if}}
          env:
            - name: MODELS_FILE
              {{#if (eq os "windows")}}
              value: 'C:\etc\modelops\models\models.json'
              {{else}}
              value: /etc/modelops/models/models.json
              {{/if}}
            - name: MODEL_DIR
              value: {{squote (include "modelops.scoring-service.modelDir" this)}}
            - name: FETCH_RETRIES
              value: {{quote @root.Values.fetchModels.retries}}
            {{#unless (eq os "windows")}}
            # aws-cli and gsutil write caches under $HOME; the root filesystem is read-only.
            - name: HOME
              value: /tmp
            {{/unless}}
          {{#if @root.Values.fetchModels.credentialsSecret}}
          # Object-store credentials (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, ...), if the secret exists.
          envFrom:
            - secretRef:
                name: {{@root.Values.fetchModels.credentialsSecret}}
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
            {{/unless}}
      containers:
        - name: scoring-service
          image: {{include "modelops.image" @root.Values.image}}
          imagePullPolicy: {{@root.Values.image.pullPolicy}}
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
          readinessProbe:{{nindent 12 (toYaml @root.Values.probes.readiness)}}
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
            {{#unless (eq os "windows")}}
            - name: tmp
              mountPath: /tmp
            {{/unless}}
      volumes:
        {{#unless (eq os "windows")}}
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
        {{/unless}}
        - name: models
          emptyDir:
            sizeLimit: {{@root.Values.modelVolume.sizeLimit}}
        - name: models-config
          configMap:
            name: {{service.name}}-models
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

{{!--
  The Linux init container's script. It reads models.json (jq), downloads each artifact with the
  tool its URI scheme needs, verifies sha256 with `sha256sum -c`, and fails loudly on any problem.
  Artifacts are written as <file>.part and renamed only once verified, so a restarted init
  container never trusts a half-written file. (No blank lines: `indent` would pad them with spaces.)
--}}
{{#*inline "modelops.scoring-service.fetchModelsSh"}}
#!/bin/sh
# fetch-models: download and verify the models of {{service.name}}.
set -eu
# --- settings (from the container's env) ---
MODELS_FILE="${MODELS_FILE:-/etc/modelops/models/models.json}"
MODEL_DIR="${MODEL_DIR:-/models}"
RETRIES="${FETCH_RETRIES:-5}"
LIST="${TMPDIR:-/tmp}/models.tsv"
# --- helpers ---
log() { echo "fetch-models: $*"; }
fail() { echo "fetch-models: ERROR: $*" >&2; exit 1; }
download() { # <uri> <file>
  case "$1" in
    s3://*)             aws s3 cp --only-show-errors "$1" "$2" ;;
    gs://*)             gsutil -q cp "$1" "$2" ;;
    http://*|https://*) curl -fsSL --connect-timeout 20 --speed-limit 1024 --speed-time 60 -o "$2" "$1" ;;
    file://*)           cp "${1#file://}" "$2" ;;
    *)                  fail "unsupported URI scheme in $1 (expected s3://, gs://, http(s):// or file://)" ;;
  esac
}
# --- the model list: one "name<TAB>version<TAB>uri<TAB>sha256" line per model ---
jq -e 'type == "array" and length > 0' "$MODELS_FILE" >/dev/null || fail "$MODELS_FILE holds no model list"
jq -r '.[] | [.name, .version, .uri, (.sha256 // "")] | @tsv' "$MODELS_FILE" >"$LIST" || fail "cannot read $MODELS_FILE"
# --- download, verify, unpack ---
tab="$(printf '\t')"
count=0
while IFS="$tab" read -r name version uri sha256; do
  case "$name/$version" in
    */*/*|*..*|/*|*/) fail "model '$name' version '$version': not usable as a directory name" ;;
  esac
  dir="$MODEL_DIR/$name/$version"
  file="$dir/$(basename "${uri%%\?*}")"
  mkdir -p "$dir"
  if [ -n "$sha256" ] && [ -f "$file" ] && echo "$sha256  $file" | sha256sum -c - >/dev/null 2>&1; then
    log "$name $version: already present and verified"
    count=$((count + 1))
    continue
  fi
  log "$name $version <- $uri"
  attempt=1
  until download "$uri" "$file.part"; do
    [ "$attempt" -lt "$RETRIES" ] || fail "$name $version: download of $uri failed after $attempt attempts"
    log "$name $version: attempt $attempt failed, retrying"
    sleep $((attempt * 3))
    attempt=$((attempt + 1))
  done
  [ -s "$file.part" ] || fail "$name $version: $uri is empty"
  if [ -n "$sha256" ]; then
    if ! echo "$sha256  $file.part" | sha256sum -c - >/dev/null 2>&1; then
      actual="$(sha256sum "$file.part" | cut -d' ' -f1)"
      rm -f "$file.part"
      fail "$name $version: sha256 mismatch for $uri: expected $sha256, got $actual"
    fi
    log "$name $version: sha256 verified"
  else
    log "$name $version: no sha256 pinned in the pipeline, not verified"
  fi
  mv -f "$file.part" "$file"
  case "$file" in
    *.tar.gz|*.tgz) tar -xzf "$file" -C "$dir" || fail "$name $version: cannot unpack $file" ;;
  esac
  count=$((count + 1))
done <"$LIST"
log "$count model(s) ready in $MODEL_DIR"
{{/inline}}

{{!-- The Windows twin of fetch-models.sh (STATISTICA runs on Windows nodes): same contract. --}}
{{#*inline "modelops.scoring-service.fetchModelsPs1"}}
# fetch-models: download and verify the models of {{service.name}}.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$modelsFile = if ($env:MODELS_FILE) { $env:MODELS_FILE } else { 'C:\etc\modelops\models\models.json' }
$modelDir = if ($env:MODEL_DIR) { $env:MODEL_DIR } else { 'C:\models' }
$retries = if ($env:FETCH_RETRIES) { [int]$env:FETCH_RETRIES } else { 5 }
function Fail([string]$message) {
  [Console]::Error.WriteLine("fetch-models: ERROR: $message")
  exit 1
}
function Download([string]$uri, [string]$file) {
  if ($uri -match '^https?://') {
    Invoke-WebRequest -UseBasicParsing -Uri $uri -OutFile $file
  } elseif ($uri -match '^s3://') {
    & aws s3 cp --only-show-errors $uri $file
    if ($LASTEXITCODE -ne 0) { throw "aws s3 cp exited with $LASTEXITCODE" }
  } elseif ($uri -match '^gs://') {
    & gsutil -q cp $uri $file
    if ($LASTEXITCODE -ne 0) { throw "gsutil cp exited with $LASTEXITCODE" }
  } else {
    Fail "unsupported URI scheme in $uri (expected s3://, gs:// or http(s)://)"
  }
}
# ForEach-Object flattens the list the same way in Windows PowerShell 5.1 and PowerShell 7.
$models = @(Get-Content -Raw -Path $modelsFile | ConvertFrom-Json | ForEach-Object { $_ })
if ($models.Count -eq 0) { Fail "$modelsFile holds no model list" }
foreach ($m in $models) {
  if ("$($m.name)/$($m.version)" -match '\.\.|\\|^/|/$|/.*/') { Fail "model '$($m.name)' version '$($m.version)': not usable as a directory name" }
  $dir = Join-Path (Join-Path $modelDir $m.name) $m.version
  New-Item -ItemType Directory -Force -Path $dir | Out-Null
  $file = Join-Path $dir ([IO.Path]::GetFileName(([Uri]$m.uri).AbsolutePath))
  $part = "$file.part"
  Write-Output "fetch-models: $($m.name) $($m.version) <- $($m.uri)"
  for ($attempt = 1; ; $attempt++) {
    try { Download $m.uri $part; break }
    catch {
      if ($attempt -ge $retries) { Fail "$($m.name) $($m.version): download of $($m.uri) failed after $attempt attempts: $_" }
      Write-Output "fetch-models: $($m.name) $($m.version): attempt $attempt failed ($_), retrying"
      Start-Sleep -Seconds (3 * $attempt)
    }
  }
  if ((Get-Item $part).Length -eq 0) { Fail "$($m.name) $($m.version): $($m.uri) is empty" }
  if ($m.sha256) {
    $actual = (Get-FileHash -Algorithm SHA256 -Path $part).Hash.ToLowerInvariant()
    if ($actual -ne $m.sha256.ToLowerInvariant()) {
      Remove-Item -Force $part
      Fail "$($m.name) $($m.version): sha256 mismatch for $($m.uri): expected $($m.sha256), got $actual"
    }
    Write-Output "fetch-models: $($m.name) $($m.version): sha256 verified"
  } else {
    Write-Output "fetch-models: $($m.name) $($m.version): no sha256 pinned in the pipeline, not verified"
  }
  Move-Item -Force $part $file
  if ($file -match '\.(tar\.gz|tgz)$') {
    & tar.exe -xzf $file -C $dir
    if ($LASTEXITCODE -ne 0) { Fail "$($m.name) $($m.version): cannot unpack $file" }
  }
}
Write-Output "fetch-models: $($models.Count) model(s) ready in $modelDir"
{{/inline}}
