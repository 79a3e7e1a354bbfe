{{/* Chart name, truncated to the 63-character DNS label limit. */}}
{{- define "monitoring.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified app name: the release name, plus the chart name unless already contained. */}}
{{- define "monitoring.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Namespace of every namespaced object. */}}
{{- define "monitoring.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "monitoring.serviceAccountName" -}}
{{- default (include "monitoring.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "monitoring.selectorLabels" -}}
app.kubernetes.io/name: {{ include "monitoring.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: prometheus
{{- end -}}

{{- define "monitoring.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "monitoring.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: monitoring
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Image reference pinned by digest. */}}
{{- define "monitoring.image" -}}
{{- printf "%s@%s" .Values.prometheus.image.repository .Values.prometheus.image.digest -}}
{{- end -}}

{{/* Sync-wave annotation for custom resources whose CRDs ship in crds/. */}}
{{- define "monitoring.crSyncWave" -}}
sextant.io/sync-wave: {{ .Values.customResourceSyncWave | toString | quote }}
{{- end -}}
