{{/* Names: every object is prefixed with the full name so two releases in one namespace can't collide. */}}
{{- define "lbmode.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "lbmode.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "lbmode.operatorName" -}}{{ include "lbmode.fullname" . }}-operator{{- end -}}
{{- define "lbmode.datapathName" -}}{{ include "lbmode.fullname" . }}-datapath{{- end -}}
{{- define "lbmode.webhookServiceName" -}}{{ include "lbmode.fullname" . }}-webhook{{- end -}}
{{- define "lbmode.webhookSecretName" -}}{{ include "lbmode.fullname" . }}-webhook-tls{{- end -}}
{{/* Cluster-scoped objects carry the namespace too: two releases in two namespaces must not collide. */}}
{{- define "lbmode.webhookConfigName" -}}{{ printf "%s-%s" (include "lbmode.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}{{- end -}}

{{- define "lbmode.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "lbmode.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lbmode
{{- end -}}

{{- define "lbmode.operatorSelector" -}}
app.kubernetes.io/name: {{ include "lbmode.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "lbmode.operatorImage" -}}
{{ .Values.operator.image.repository }}:{{ .Values.operator.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "lbmode.datapathImage" -}}
{{ .Values.datapath.image.repository }}:{{ .Values.datapath.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Cross-field rules JSON Schema can't state clearly; each message names the values to change. */}}
{{- define "lbmode.checks" -}}
{{- range .Values.datapath.tolerations -}}
{{- if and (eq (.operator | default "Equal") "Equal") (not .key) -}}
{{- fail "datapath.tolerations: an entry with operator Equal needs a key (use {operator: Exists} to tolerate every taint)." -}}
{{- end -}}
{{- end -}}
{{- if and .Values.webhook.certManager.enabled .Values.webhook.certManager.issuerRef (not .Values.webhook.certManager.issuerRef.name) -}}
{{- fail "webhook.certManager.issuerRef needs a name (an existing Issuer or ClusterIssuer); leave issuerRef empty to let the chart create a self-signed Issuer." -}}
{{- end -}}
{{- end -}}

{{- define "lbmode.pullSecretNames" -}}
{{- $names := list -}}
{{- range .Values.imagePullSecrets }}{{ $names = append $names .name }}{{ end -}}
{{- join "," $names -}}
{{- end -}}

{{- define "lbmode.webhookDnsNames" -}}
{{- $svc := include "lbmode.webhookServiceName" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson -}}
{{- end -}}

{{/*
The webhook's TLS material as YAML (ca.crt, tls.crt, tls.key, base64). Generated once per render and memoized in
.Values, so the Secret, the caBundle and the Deployment's checksum all see the same certificate; on upgrade the
Secret already in the cluster is reused (lookup), so the caBundle stays valid and no pod restarts are needed.
*/}}
{{- define "lbmode.webhookTls" -}}
{{- if not (hasKey .Values "__lbmodeWebhookTls") -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "lbmode.webhookSecretName" .) -}}
{{- $old := dict -}}
{{- if $existing -}}{{- $old = $existing.data | default dict -}}{{- end -}}
{{- $tls := dict -}}
{{- if and (index $old "ca.crt") (index $old "tls.crt") (index $old "tls.key") -}}
{{- $tls = dict "ca.crt" (index $old "ca.crt") "tls.crt" (index $old "tls.crt") "tls.key" (index $old "tls.key") -}}
{{- else -}}
{{- $days := int .Values.webhook.certValidityDays -}}
{{- $svc := include "lbmode.webhookServiceName" . -}}
{{- $ca := genCA (printf "%s-ca" $svc) $days -}}
{{- $cn := printf "%s.%s.svc" $svc .Release.Namespace -}}
{{- $cert := genSignedCert $cn nil (include "lbmode.webhookDnsNames" . | fromJsonArray) $days $ca -}}
{{- $tls = dict "ca.crt" ($ca.Cert | b64enc) "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) -}}
{{- end -}}
{{- $_ := set .Values "__lbmodeWebhookTls" $tls -}}
{{- end -}}
{{- toYaml (get .Values "__lbmodeWebhookTls") -}}
{{- end -}}

{{- define "lbmode.operatorClusterRoleName" -}}{{ printf "%s-%s" (include "lbmode.operatorName" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "lbmode.datapathClusterRoleName" -}}{{ printf "%s-%s" (include "lbmode.datapathName" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}{{- end -}}

{{/*
datapath.tolerations in the operator's format (lbmode.datapath.tolerations: key[=value]:Effect, key:Exists or
key=value); a key-less {operator: Exists} becomes lbmode.datapath.tolerate-all instead.
*/}}
{{- define "lbmode.datapathTolerateAll" -}}
{{- $all := false -}}
{{- range .Values.datapath.tolerations }}{{ if and (eq (.operator | default "Equal") "Exists") (not .key) }}{{ $all = true }}{{ end }}{{ end -}}
{{- $all -}}
{{- end -}}

{{- define "lbmode.datapathTolerations" -}}
{{- $specs := list -}}
{{- range .Values.datapath.tolerations -}}
{{- if .key -}}
{{- $spec := .key -}}
{{- if eq (.operator | default "Equal") "Equal" }}{{ $spec = printf "%s=%s" .key (.value | default "") }}{{ end -}}
{{- if .effect }}{{ $spec = printf "%s:%s" $spec .effect }}{{ else if eq .operator "Exists" }}{{ $spec = printf "%s:Exists" $spec }}{{ end -}}
{{- $specs = append $specs $spec -}}
{{- end -}}
{{- end -}}
{{- join "," $specs -}}
{{- end -}}
{{- define "lbmode.policyName" -}}{{ printf "%s-%s-forward-mode" (include "lbmode.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}{{- end -}}
