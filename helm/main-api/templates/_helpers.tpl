{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "main-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; the release name alone when it already contains the chart name. */}}
{{- define "main-api.fullname" -}}
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

{{- define "main-api.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The version the service reports: serviceVersion, else the image tag, else appVersion. */}}
{{- define "main-api.version" -}}
{{- .Values.serviceVersion | default .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "main-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "main-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "main-api.labels" -}}
helm.sh/chart: {{ include "main-api.chart" . }}
{{ include "main-api.selectorLabels" . }}
app.kubernetes.io/version: {{ include "main-api.version" . | quote }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: sextant-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "main-api.serviceAccountName" -}}
{{- default (include "main-api.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* repository[:tag]@digest: the digest pins the image; the tag is only for humans. */}}
{{- define "main-api.image" -}}
{{- $digest := required "image.digest is required (sha256:<64 hex>): environments pin images by digest" .Values.image.digest }}
{{- if .Values.image.tag }}
{{- printf "%s:%s@%s" .Values.image.repository .Values.image.tag $digest }}
{{- else }}
{{- printf "%s@%s" .Values.image.repository $digest }}
{{- end }}
{{- end }}
