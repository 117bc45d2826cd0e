{{/*
The Ledger's processes. Each runs one entry point of the image and serves /health, /ready
and /metrics on its own port; `settings` is the LEDGER_<SECTION>_ prefix of its host and
port settings, `values` the key of its values, `serves` whether clients reach it (a
Service and the route). The issuer answers /health only.
*/}}
{{- define "ledger.components" -}}
command-api: {values: commandApi, command: ledger-command-api, settings: COMMAND, port: 8001, serves: true, ready: /ready}
query-api: {values: queryApi, command: ledger-query-api, settings: QUERY, port: 8002, serves: true, ready: /ready}
projector: {values: projector, command: ledger-projector, settings: PROJECTOR, port: 8003, serves: false, ready: /ready}
relay: {values: relay, command: ledger-relay, settings: RELAY, port: 8004, serves: false, ready: /ready}
transfer-process: {values: transferProcess, command: ledger-transfer-process, settings: TRANSFERS, port: 8005, serves: false, ready: /ready}
{{- if .Values.issuer.enabled }}
issuer: {values: issuer, command: ledger-issuer, settings: AUTH_ISSUER, port: 8006, serves: true, ready: /health}
{{- end }}
{{- end -}}

{{- define "ledger.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The name of one component's objects: <fullname>-<component>. */}}
{{- define "ledger.componentName" -}}
{{- printf "%s-%s" (include "ledger.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ledger.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ledger.labels" -}}
{{ include "ledger.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Labels of one component's objects; call with (dict "root" $ "component" name). */}}
{{- define "ledger.componentLabels" -}}
{{ include "ledger.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ledger.componentSelector" -}}
{{ include "ledger.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ledger.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end -}}

{{- define "ledger.serviceAccountName" -}}
{{ default (include "ledger.fullname" .) .Values.serviceAccount.name }}
{{- end -}}

{{/* The issuer tokens carry and where its keys are: external, or the bundled issuer. */}}
{{- define "ledger.authIssuer" -}}
{{- if .Values.auth.issuer -}}
{{ .Values.auth.issuer }}
{{- else if .Values.issuer.enabled -}}
{{ required "issuer.publicUrl is required when issuer.enabled is true" .Values.issuer.publicUrl }}
{{- else -}}
{{ fail "set auth.issuer and auth.jwksUrl (an OIDC provider), or issuer.enabled=true with issuer.publicUrl" }}
{{- end -}}
{{- end -}}

{{- define "ledger.jwksUrl" -}}
{{- if .Values.auth.jwksUrl -}}
{{ .Values.auth.jwksUrl }}
{{- else if .Values.issuer.enabled -}}
{{ printf "http://%s:8006/.well-known/jwks.json" (include "ledger.componentName" (dict "root" . "component" "issuer")) }}
{{- else -}}
{{ fail "auth.jwksUrl is required with an external auth.issuer" }}
{{- end -}}
{{- end -}}

{{- define "ledger.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ required (printf "%s.name is required" .path) .ref.name }}
      key: {{ required (printf "%s.key is required" .path) .ref.key }}
{{- end -}}

{{/*
The settings every process reads (infra/settings.py); secrets by reference only.
Call with (dict "root" $ "component" name "facts" facts).
*/}}
{{- define "ledger.env" -}}
{{- $values := .root.Values -}}
{{ include "ledger.secretEnv" (dict "name" "LEDGER_POSTGRES_URL" "ref" $values.postgres.urlSecret "path" "postgres.urlSecret") }}
- {name: LEDGER_POSTGRES_POOL_SIZE, value: {{ $values.postgres.poolSize | quote }}}
- {name: LEDGER_KAFKA_BOOTSTRAP_SERVERS, value: {{ required "kafka.bootstrapServers is required" $values.kafka.bootstrapServers | quote }}}
- {name: LEDGER_KAFKA_TOPIC, value: {{ $values.kafka.topic | quote }}}
- {name: LEDGER_KAFKA_PARTITIONS, value: {{ $values.kafka.partitions | quote }}}
{{ include "ledger.secretEnv" (dict "name" "LEDGER_MONGODB_URL" "ref" $values.mongodb.urlSecret "path" "mongodb.urlSecret") }}
- {name: LEDGER_MONGODB_DATABASE, value: {{ $values.mongodb.database | quote }}}
{{ include "ledger.secretEnv" (dict "name" "LEDGER_REDIS_URL" "ref" $values.redis.urlSecret "path" "redis.urlSecret") }}
- {name: LEDGER_AUTH_ISSUER, value: {{ include "ledger.authIssuer" .root | quote }}}
- {name: LEDGER_AUTH_JWKS_URL, value: {{ include "ledger.jwksUrl" .root | quote }}}
- {name: LEDGER_AUTH_AUDIENCE, value: {{ $values.auth.audience | quote }}}
{{- $tokenUrl := $values.auth.tokenUrl | default (ternary (printf "%s/oauth/token" (trimSuffix "/" $values.issuer.publicUrl)) "" $values.issuer.enabled) }}
{{- if $tokenUrl }}
- {name: LEDGER_AUTH_TOKEN_URL, value: {{ $tokenUrl | quote }}}
{{- end }}
{{- if .facts }}
{{- /* Inside a pod the kubelet's probes and the Service reach the process on the pod's address, so it listens on all of the pod's interfaces; the NetworkPolicies decide who may connect. */}}
- {name: LEDGER_{{ .facts.settings }}_HOST, value: "0.0.0.0"}
- {name: LEDGER_{{ .facts.settings }}_PORT, value: {{ .facts.port | quote }}}
{{- end }}
{{- if eq .component "issuer" }}
{{ include "ledger.secretEnv" (dict "name" "LEDGER_AUTH_KEY_ENCRYPTION_KEY" "ref" $values.issuer.keyEncryptionKeySecret "path" "issuer.keyEncryptionKeySecret") }}
{{- end }}
{{- with $values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- if .facts }}
{{- with (index $values .facts.values).extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The pod-level fields every Ledger pod shares. */}}
{{- define "ledger.podCommon" -}}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
volumes:
  # The root filesystem is read-only; Python and the libraries may still want a /tmp.
  - name: tmp
    emptyDir: {sizeLimit: 64Mi}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
