{{/* What every pod of the chart shares: image references, the restricted security
     contexts, pull secrets and scheduling keys. */}}

{{- define "podlab.image" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/*
The restricted Pod Security profile, for every container of the chart: non-root, no
privilege escalation, no capabilities, read-only root filesystem, RuntimeDefault seccomp.
Call with the uid: (include "podlab.containerSecurityContext" 10001). podlab images (hub,
MLflow) run as any uid: uid 10001, no passwd entry needed, HOME on an emptyDir.
*/}}
{{- define "podlab.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "podlab.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "podlab.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Scheduling keys shared by every workload: (dict "values" .Values.hub). */}}
{{- define "podlab.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
