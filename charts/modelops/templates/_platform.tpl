{{!--
  Objects of the platform sub-charts (modelops-server, data-channel, scheduling-server,
  test-data-sink, ...). Every partial reads the platform chart's root context (@root.Values,
  @root.Release, @root.Chart). Platform objects are cluster singletons named after their chart
  (or Values.fullnameOverride), with component label Values.component.
--}}

{{#*inline "modelops.platform.name"}}
{{default @root.Chart.Name @root.Values.fullnameOverride}}
{{/inline}}

{{#*inline "modelops.platform.labels"}}
{{include "modelops.labels" (dict "name" (include "modelops.platform.name" this) "component" @root.Values.component)}}
{{/inline}}

{{#*inline "modelops.platform.selectorLabels"}}
{{include "modelops.selectorLabels" (dict "name" (include "modelops.platform.name" this) "component" @root.Values.component)}}
{{/inline}}

{{!-- A long-running server: Deployment + Service (see "modelops.platform.service"). --}}
{{#*inline "modelops.platform.deployment"}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{include "modelops.platform.name" this}}
  labels:{{nindent 4 (include "modelops.platform.labels" this)}}
spec:
  replicas: {{@root.Values.replicas}}
  revisionHistoryLimit: 3
  selector:
    matchLabels:{{nindent 6 (include "modelops.platform.selectorLabels" this)}}
  template:
    metadata:
      labels:{{nindent 8 (include "modelops.platform.labels" this)}}
      {{#if @root.Values.podAnnotations}}
      annotations:
        {{#each @root.Values.podAnnotations}}
        {{@key}}: {{quote this}}
        {{/each}}
      {{/if}}
    spec:
      {{#if @root.Values.serviceAccountName}}
      serviceAccountName: {{@root.Values.serviceAccountName}}
      {{else}}
      automountServiceAccountToken: false
      {{/if}}
      enableServiceLinks: false
      securityContext:{{nindent 8 (include "modelops.podSecurityContext" (dict "os" "linux"))}}
      {{#if @root.Values.global.registry.imagePullSecrets}}
      imagePullSecrets:
        {{#each @root.Values.global.registry.imagePullSecrets}}
        - name: {{#if name}}{{name}}{{else}}{{this}}{{/if}}
        {{/each}}
      {{/if}}
      nodeSelector:
        kubernetes.io/os: linux
      containers:
        - name: {{@root.Values.component}}
          image: {{include "modelops.image" @root.Values.image}}
          imagePullPolicy: {{@root.Values.image.pullPolicy}}
          ports:
            - name: http
              containerPort: {{@root.Values.port}}
              protocol: TCP
          env:
            - name: PORT
              value: {{quote @root.Values.port}}
            {{#if @root.Values.global.trace.enabled}}
{{indent 12 (include "modelops.traceEnv" (dict "name" (include "modelops.platform.name" this)))}}
            {{/if}}
            {{#each @root.Values.env}}
            - name: {{@key}}
              value: {{quote this}}
            {{/each}}
          readinessProbe:{{nindent 12 (toYaml @root.Values.probes.readiness)}}
          livenessProbe:{{nindent 12 (toYaml @root.Values.probes.liveness)}}
          resources:{{nindent 12 (toYaml @root.Values.resources)}}
          securityContext:{{nindent 12 (include "modelops.containerSecurityContext" (dict "os" "linux"))}}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
{{/inline}}

{{#*inline "modelops.platform.service"}}
apiVersion: v1
kind: Service
metadata:
  name: {{include "modelops.platform.name" this}}
  labels:{{nindent 4 (include "modelops.platform.labels" this)}}
spec:
  type: {{@root.Values.service.type}}
  selector:{{nindent 4 (include "modelops.platform.selectorLabels" this)}}
  ports:
    - name: http
      port: {{@root.Values.service.port}}
      targetPort: http
      protocol: TCP
{{/inline}}

{{!--
  A base image that nothing runs by itself (container tools, streaming runtime base): a
  DaemonSet that pulls it onto every Linux node ahead of time, so that the scoring pods built on
  it (or using it as an init container) start without waiting for a pull.
  Argument: the image to pre-pull.
--}}
{{#*inline "modelops.platform.prepull"}}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{include "modelops.platform.name" this}}-prepull
  labels:{{nindent 4 (include "modelops.platform.labels" this)}}
spec:
  selector:
    matchLabels:{{nindent 6 (include "modelops.platform.selectorLabels" this)}}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 25%
  template:
    metadata:
      labels:{{nindent 8 (include "modelops.platform.labels" this)}}
    spec:
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: 1
      securityContext:{{nindent 8 (include "modelops.podSecurityContext" (dict "os" "linux"))}}
      {{#if @root.Values.global.registry.imagePullSecrets}}
      imagePullSecrets:
        {{#each @root.Values.global.registry.imagePullSecrets}}
        - name: {{#if name}}{{name}}{{else}}{{this}}{{/if}}
        {{/each}}
      {{/if}}
      nodeSelector:
        kubernetes.io/os: linux
      {{#if @root.Values.prepull.tolerations}}
      tolerations:{{nindent 8 (toYaml @root.Values.prepull.tolerations)}}
      {{/if}}
      initContainers:
        # Pulling the image is the point; running it only proves it starts.
        - name: prepull
          image: {{include "modelops.image" this}}
          imagePullPolicy: {{default "IfNotPresent" pullPolicy}}
          command: ["/bin/sh", "-c", "true"]
          resources:{{nindent 12 (toYaml @root.Values.prepull.resources)}}
          securityContext:{{nindent 12 (include "modelops.containerSecurityContext" (dict "os" "linux"))}}
      containers:
        - name: pause
          image: {{include "modelops.image" @root.Values.prepull.pauseImage}}
          imagePullPolicy: IfNotPresent
          resources:{{nindent 12 (toYaml @root.Values.prepull.resources)}}
          securityContext:{{nindent 12 (include "modelops.containerSecurityContext" (dict "os" "linux"))}}
{{/inline}}
