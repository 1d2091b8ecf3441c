{{/* The hub's and MLflow's PostgreSQL: host, Secret, environment and URL. */}}

{{/* Database coordinates. The bundled server, when enabled, is the database of both; otherwise
     each component reads its password (and, unless a host value is set, its host) from its
     existing Secret, so the defaults render and a site may keep all of it in one Secret. */}}
{{- define "podlab.hub.dbHost" -}}
{{- if .Values.postgresql.bundled.enabled -}}{{ include "podlab.postgresql.serviceName" . }}.{{ .Release.Namespace }}.svc
{{- else -}}{{ .Values.hub.db.host }}
{{- end -}}
{{- end -}}

{{- define "podlab.mlflow.dbHost" -}}
{{- if .Values.postgresql.bundled.enabled -}}{{ include "podlab.hub.dbHost" . }}
{{- else -}}{{ .Values.mlflow.db.host | default .Values.hub.db.host }}
{{- end -}}
{{- end -}}

{{- define "podlab.hub.dbSecretName" -}}
{{- if .Values.postgresql.bundled.enabled -}}{{ include "podlab.postgresql.secretName" . }}
{{- else -}}{{ .Values.hub.db.existingSecret }}
{{- end -}}
{{- end -}}

{{- define "podlab.mlflow.dbSecretName" -}}
{{- if .Values.postgresql.bundled.enabled -}}{{ include "podlab.postgresql.secretName" . }}
{{- else -}}{{ .Values.mlflow.db.existingSecret }}
{{- end -}}
{{- end -}}

{{/* Env vars with a component's database host and password; the URL refers to the host as
     $(<prefix>_HOST), which Kubernetes expands. (dict "root" $ "component" "hub"|"mlflow"
     "prefix" "PODLAB_HUB_DB" "passwordEnv" "PGPASSWORD") */}}
{{- define "podlab.dbEnv" -}}
{{- $db := get .root.Values .component | dig "db" dict -}}
{{- $host := include (printf "podlab.%s.dbHost" .component) .root -}}
{{- $secret := include (printf "podlab.%s.dbSecretName" .component) .root -}}
- name: {{ .prefix }}_HOST
{{- if $host }}
  value: {{ $host | quote }}
{{- else }}
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $db.hostKey }}}
{{- end }}
- name: {{ .passwordEnv }}
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $db.passwordKey }}}
{{- end -}}

{{- define "podlab.mlflow.databaseUrl" -}}
{{- printf "postgresql+psycopg2://%s@$(PODLAB_MLFLOW_DB_HOST):%v/%s" .Values.mlflow.db.user .Values.mlflow.db.port .Values.mlflow.db.name -}}
{{- end -}}

{{- define "podlab.hub.databaseUrl" -}}
{{- printf "postgresql+psycopg2://%s@$(PODLAB_HUB_DB_HOST):%v/%s" .Values.hub.db.user .Values.hub.db.port .Values.hub.db.name -}}
{{- end -}}

{{/* The environment `podlab-mlflow migrate|serve` reads (mlflow-server/src/podlab_mlflow/settings.py). */}}
{{- define "podlab.mlflow.databaseEnv" -}}
{{ include "podlab.dbEnv" (dict "root" . "component" "mlflow" "prefix" "PODLAB_MLFLOW_DB" "passwordEnv" "PODLAB_MLFLOW_DATABASE_PASSWORD") }}
- name: PODLAB_MLFLOW_DATABASE_URL
  value: {{ include "podlab.mlflow.databaseUrl" . | quote }}
{{- end -}}
