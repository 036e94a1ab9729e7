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
