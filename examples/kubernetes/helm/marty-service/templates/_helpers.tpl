{{/*
The name of the Deployment and the Service: the release name unless fullnameOverride is set
(install each service as a release named after it, e.g. `helm install csca-service ...`).
*/}}
{{- define "marty-service.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the pods of this release. */}}
{{- define "marty-service.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "marty-service.labels" -}}
{{ include "marty-service.selectorLabels" . }}
app.kubernetes.io/component: {{ .Values.service.name }}
app.kubernetes.io/part-of: marty
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
"true" when the metrics endpoint reads a web config (metrics.enabled and
metrics.webConfig.secretName set), else empty. metrics.webConfig.tls without a secretName is
an error: there would be no web config to turn TLS on.
*/}}
{{- define "marty-service.webConfig" -}}
{{- with .Values.metrics.webConfig -}}
{{- if and .tls (not .secretName) -}}
{{- fail "metrics.webConfig.tls needs metrics.webConfig.secretName: the web config that turns TLS on" -}}
{{- end -}}
{{- if and $.Values.metrics.enabled .secretName }}true{{ end -}}
{{- end -}}
{{- end -}}

{{/* The metrics endpoint's scheme: https when the web config turns TLS on, else http. */}}
{{- define "marty-service.metricsScheme" -}}
{{- if and (include "marty-service.webConfig" .) .Values.metrics.webConfig.tls }}https{{ else }}http{{ end -}}
{{- end -}}
