{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "auxiliary-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; the release name alone when it already contains the chart name. */}}
{{- define "auxiliary-service.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "auxiliary-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The version the service reports: serviceVersion, else the image tag, else appVersion. */}}
{{- define "auxiliary-service.version" -}}
{{- .Values.serviceVersion | default .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "auxiliary-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "auxiliary-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "auxiliary-service.labels" -}}
helm.sh/chart: {{ include "auxiliary-service.chart" . }}
{{ include "auxiliary-service.selectorLabels" . }}
app.kubernetes.io/version: {{ include "auxiliary-service.version" . | quote }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: sextant-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "auxiliary-service.serviceAccountName" -}}
{{- default (include "auxiliary-service.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* repository[:tag]@digest: the digest pins the image; the tag is only for humans. */}}
{{- define "auxiliary-service.image" -}}
{{- $digest := required "image.digest is required (sha256:<64 hex>): environments pin images by digest" .Values.image.digest }}
{{- if .Values.image.tag }}
{{- printf "%s:%s@%s" .Values.image.repository .Values.image.tag $digest }}
{{- else }}
{{- printf "%s@%s" .Values.image.repository $digest }}
{{- end }}
{{- end }}
