{{/*
Fail with one readable message listing every problem JSON schema cannot express: values a
site must provide (the chart cannot guess a database host) and cross-field rules. Included by
validate.yaml and by every helper that depends on those values, so whichever template Helm
renders first, the admin sees the whole list.
*/}}
{{- define "podlab.validate" -}}
{{- $problems := list -}}
{{- $seen := dict -}}
{{- range $index, $profile := .Values.podlab.profiles -}}
{{- if hasKey $seen $profile.slug -}}
{{- /* The text of podlab.config.duplicate_slug, the hub's check (tests/chart/test_schema.py). */ -}}
{{- $problems = append $problems (printf "podlab.profiles[%d].slug: duplicate slug '%s' (also podlab.profiles[%v]); every profile needs a unique slug" $index $profile.slug (get $seen $profile.slug)) -}}
{{- else -}}
{{- $_ := set $seen $profile.slug $index -}}
{{- end -}}
{{- end -}}
{{- $bundled := .Values.postgresql.bundled.enabled -}}
{{- range $component := list "hub" "mlflow" -}}
{{- $db := (get $.Values $component).db -}}
{{- if and $bundled $db.host -}}
{{- $problems = append $problems (printf "%s.db.host is set and postgresql.bundled.enabled is true: use one database server; unset %s.db.host or the bundled server" $component $component) -}}
{{- end -}}
{{- if and (not $bundled) (not $db.existingSecret) (or (eq $component "hub") $.Values.mlflow.enabled) -}}
{{- $problems = append $problems (printf "%s.db.existingSecret is empty: name the Secret holding the %s database password (key %s.db.passwordKey) and, unless a host is set, its host (key %s.db.hostKey), or set postgresql.bundled.enabled=true for a trial" $component $component $component $component) -}}
{{- end -}}
{{- end -}}
{{- $mlflow := .Values.mlflow -}}
{{- if and $mlflow.enabled (gt (int $mlflow.replicas) 1) (include "podlab.mlflow.artifactsOnOneNode" .) -}}
{{- $problems = append $problems (printf "mlflow.replicas is %v but the artifacts volume is %s (mlflow.artifacts.destination is empty): set the destination to s3://BUCKET/PREFIX, use one replica, or a ReadWriteMany storage class with mlflow.artifacts.volume.accessModes [ReadWriteMany]" $mlflow.replicas (join "," $mlflow.artifacts.volume.accessModes)) -}}
{{- end -}}
{{- $oidc := .Values.hub.auth.oidc -}}
{{- if and (eq .Values.hub.auth.type "oidc") (not $oidc.existingSecret) -}}
{{- $problems = append $problems "hub.auth.type is oidc but hub.auth.oidc.existingSecret is empty: name the Secret holding the client secret (key hub.auth.oidc.clientSecretKey; also authorize-url, token-url, userdata-url and client-id for the settings left empty), or set hub.auth.type=password for a trial" -}}
{{- end -}}
{{- /* With a cluster to ask (helm install/upgrade; `helm template` has none), the Secrets
     must exist before the pre-install migration hook and the pods can start: refuse the
     release now, naming each missing Secret and key, instead of a hook timing out. It needs
     list on Secrets in the namespace, which Helm's default (Secret) release storage needs
     anyway; with HELM_DRIVER=configmap or sql it is one more permission. */ -}}
{{- $present := lookup "v1" "Secret" .Release.Namespace "" -}}
{{- if $present.kind -}}
{{- $data := dict -}}
{{- range $present.items -}}{{- $_ := set $data .metadata.name (.data | default dict) -}}{{- end -}}
{{- range $name, $keys := include "podlab.requiredSecrets" . | fromJson -}}
{{- $absent := list -}}
{{- range $keys -}}{{- if not (hasKey (get $data $name | default dict) .) -}}{{- $absent = append $absent . -}}{{- end -}}{{- end -}}
{{- if not (hasKey $data $name) -}}
{{- $problems = append $problems (printf "Secret %s does not exist in namespace %s: create it before installing: %s" $name $.Release.Namespace (include "podlab.createSecretCommand" (dict "root" $ "name" $name "keys" $keys))) -}}
{{- else if $absent -}}
{{- $problems = append $problems (printf "Secret %s in namespace %s has no key %s: add them (kubectl -n %s edit secret %s)" $name $.Release.Namespace (join ", no key " $absent) $.Release.Namespace $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $oidc.allowAll $oidc.allowedGroups -}}
{{- $problems = append $problems "hub.auth.oidc: allowAll and allowedGroups contradict each other; keep one" -}}
{{- end -}}
{{- if $problems -}}
{{- fail (printf "\n\npodlab: invalid values:\n  - %s\n" (join "\n  - " $problems)) -}}
{{- end -}}
{{- end -}}
