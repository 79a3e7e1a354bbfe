{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "hash-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; the release name alone when it already contains the chart name. */}}
{{- define "hash-service.fullname" -}}
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

{{- define "hash-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The version the service reports: serviceVersion, else the image tag, else appVersion. */}}
{{- define "hash-service.version" -}}
{{- .Values.serviceVersion | default .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "hash-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hash-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hash-service.labels" -}}
helm.sh/chart: {{ include "hash-service.chart" . }}
{{ include "hash-service.selectorLabels" . }}
app.kubernetes.io/version: {{ include "hash-service.version" . | quote }}
app.kubernetes.io/component: api
app.kubernetes.io/part-of: sextant-platform
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "hash-service.serviceAccountName" -}}
{{- default (include "hash-service.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* repository[:tag]@digest: the digest pins the image; the tag is only for humans. */}}
{{- define "hash-service.image" -}}
{{- $digest := required "image.digest is required (sha256:<64 hex>): environments pin images by digest" .Values.image.digest }}
{{- if .Values.image.tag }}
{{- printf "%s:%s@%s" .Values.image.repository .Values.image.tag $digest }}
{{- else }}
{{- printf "%s@%s" .Values.image.repository $digest }}
{{- end }}
{{- end }}
