{{/*
Names. Every object is "<fullname>-<component>", so two releases can share a namespace; the
fullname is the release name when it already contains the chart name. Labels, the metadata
block, the Service names and URLs other components dial, and cluster-scoped names.
*/}}

{{- define "podlab.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "podlab.fullname" -}}
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

{{/* "<fullname>-<component>": call with (dict "root" $ "component" "hub"). */}}
{{- define "podlab.componentName" -}}
{{- printf "%s-%s" (include "podlab.fullname" .root) .component -}}
{{- end -}}

{{- define "podlab.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades (a Deployment's selector is immutable). */}}
{{- define "podlab.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podlab.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "podlab.labels" -}}
{{ include "podlab.selectorLabels" . }}
helm.sh/chart: {{ include "podlab.chart" .root }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: podlab
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata block: name, namespace, labels. (dict "root" $ "component" "hub" "name" "...");
"cluster" true for cluster-scoped objects (no namespace). */}}
{{- define "podlab.metadata" -}}
name: {{ default (include "podlab.componentName" .) .name }}
{{- if not .cluster }}
namespace: {{ .root.Release.Namespace }}
{{- end }}
labels:
  {{- include "podlab.labels" . | nindent 2 }}
{{- end -}}

{{/* Names of the Services other components dial. */}}
{{- define "podlab.hub.serviceName" -}}{{ include "podlab.componentName" (dict "root" . "component" "hub") }}{{- end -}}
{{- define "podlab.proxy.apiServiceName" -}}{{ include "podlab.componentName" (dict "root" . "component" "proxy-api") }}{{- end -}}
{{- define "podlab.proxy.publicServiceName" -}}{{ include "podlab.componentName" (dict "root" . "component" "proxy-public") }}{{- end -}}
{{- define "podlab.mlflow.serviceName" -}}{{ include "podlab.componentName" (dict "root" . "component" "mlflow") }}{{- end -}}
{{- define "podlab.postgresql.serviceName" -}}{{ include "podlab.componentName" (dict "root" . "component" "postgresql") }}{{- end -}}

{{- define "podlab.hub.apiUrl" -}}
{{- printf "http://%s.%s.svc:8081/hub/api" (include "podlab.hub.serviceName" .) .Release.Namespace -}}
{{- end -}}

{{- define "podlab.mlflow.url" -}}
{{- printf "http://%s.%s.svc:5000" (include "podlab.mlflow.serviceName" .) .Release.Namespace -}}
{{- end -}}

{{/* Cluster-scoped names must be unique across namespaces: "<namespace>-<fullname>-hub". */}}
{{- define "podlab.hub.clusterRoleName" -}}
{{- printf "%s-%s" .Release.Namespace (include "podlab.componentName" (dict "root" . "component" "hub")) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
