{{/* An ExternalSecret template (External Secrets' Go template, engine v2) for one key: the
parameter's value, or an error naming the parameter when it still holds the placeholder. */}}
{{- define "platform.guardedValue" -}}
{{- $msg := printf "SSM parameter %s still holds the placeholder %s: put its value (docs/secrets.md, External Secrets)" .parameter .placeholder -}}
{{- printf "{{ $v := index . %q }}{{ if eq $v %q }}{{ fail %q }}{{ end }}{{ $v }}" .key .placeholder $msg -}}
{{- end }}
