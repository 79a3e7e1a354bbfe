{{/* The Rego of one template: its package, the keywords it uses, the shared pod library, its rules. */}}
{{- define "policies.rego" -}}
package {{ .pkg }}

import future.keywords.contains
import future.keywords.if
import future.keywords.in

{{ .files.Get "rego/lib.rego" }}
{{ .files.Get (printf "rego/%s.rego" .pkg) }}
{{- end }}

{{/* What every constraint reviews: Pods and everything that makes them. */}}
{{- define "policies.kinds" -}}
- apiGroups: [""]
  kinds: [Pod]
- apiGroups: [apps]
  kinds: [Deployment, StatefulSet, DaemonSet, ReplicaSet]
- apiGroups: [batch]
  kinds: [Job, CronJob]
{{- end }}
