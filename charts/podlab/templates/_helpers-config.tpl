{{/* The podlab config the hub reads (the `podlab:` values, completed by the chart). */}}

{{/* The podlab config as mounted: values.podlab, with the in-cluster MLflow URL filled in. */}}
{{- define "podlab.config" -}}
{{- $config := deepCopy .Values.podlab -}}
{{- if .Values.mlflow.enabled -}}
{{- $integrations := default dict $config.integrations -}}
{{- $mlflow := default dict $integrations.mlflow -}}
{{- if not $mlflow.url -}}
{{- $_ := set $mlflow "url" (include "podlab.mlflow.url" .) -}}
{{- $_ := set $integrations "mlflow" $mlflow -}}
{{- $_ := set $config "integrations" $integrations -}}
{{- end -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}
