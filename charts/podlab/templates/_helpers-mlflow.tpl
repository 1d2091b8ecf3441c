{{/* MLflow's artifacts volume, ServiceAccount, and the hosts and origins it answers. */}}

{{/* MLflow's artifacts volume (used when mlflow.artifacts.destination is empty). */}}
{{- define "podlab.mlflow.artifactsClaim" -}}
{{- .Values.mlflow.artifacts.volume.existingClaim | default (include "podlab.componentName" (dict "root" . "component" "mlflow-artifacts")) -}}
{{- end -}}
{{- define "podlab.mlflow.artifactsDir" -}}/var/lib/podlab-mlflow/artifacts{{- end -}}
{{/* "true" when artifacts live on a volume that attaches to one node at a time (no bucket,
     not ReadWriteMany): one replica, replaced with Recreate. */}}
{{- define "podlab.mlflow.artifactsOnOneNode" -}}
{{- if and (not .Values.mlflow.artifacts.destination) (not (has "ReadWriteMany" .Values.mlflow.artifacts.volume.accessModes)) }}true{{ end -}}
{{- end -}}

{{- define "podlab.mlflow.serviceAccountName" -}}
{{- if .Values.mlflow.serviceAccount.create -}}
{{- default (include "podlab.componentName" (dict "root" . "component" "mlflow")) .Values.mlflow.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.mlflow.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /* Host names MLflow answers to: its own and the proxy's in-cluster Service names (a
     pod reaches the UI through either; nobody outside can make them resolve elsewhere), the
     ingress hosts and mlflow.allowedHosts (the server adds the hosts of
     PODLAB_MLFLOW_ALLOWED_ORIGINS, i.e. proxy.publicUrl's). */ -}}
{{- define "podlab.mlflow.allowedHosts" -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := list -}}
{{- range (list (include "podlab.mlflow.serviceName" .) (include "podlab.proxy.publicServiceName" .)) -}}
{{- $hosts = concat $hosts (list . (printf "%s.%s" . $ns) (printf "%s.%s.svc" . $ns) (printf "%s.%s.svc.cluster.local" . $ns)) -}}
{{- end -}}
{{- $hosts = concat $hosts .Values.proxy.ingress.hosts .Values.mlflow.allowedHosts -}}
{{- join "," (uniq $hosts) -}}
{{- end -}}

{{/* Origins browsers open podlab under: proxy.publicUrl and each ingress host (https and
     http). MLflow's UI posts with one of them as Origin, and its host as Host. */}}
{{- define "podlab.publicOrigins" -}}
{{- $origins := list -}}
{{- with .Values.proxy.publicUrl }}{{ $origins = append $origins (trimSuffix "/" .) }}{{ end -}}
{{- range .Values.proxy.ingress.hosts }}
{{- if not (contains "*" .) }}
{{- $origins = concat $origins (list (printf "https://%s" .) (printf "http://%s" .)) -}}
{{- end }}
{{- end -}}
{{- join "," (uniq $origins) -}}
{{- end -}}
