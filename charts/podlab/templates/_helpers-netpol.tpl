{{/* NetworkPolicy peers shared by the components. */}}
{{- define "podlab.netpol.dnsEgress" -}}
{{- $dns := ((.Values.podlab.network).dns) | default dict -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $dns.namespace | default "kube-system" }}
      podSelector:
        matchLabels:
          {{- toYaml ($dns.pod_labels | default (dict "k8s-app" "kube-dns")) | nindent 10 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end -}}

{{/* The namespaces the hub creates for users carry podlab.k8s's MANAGED_BY labels. */}}
{{- define "podlab.netpol.userNamespaces" -}}
- namespaceSelector:
    matchLabels:
      app.kubernetes.io/managed-by: podlab-hub
      app.kubernetes.io/part-of: podlab
{{- end -}}

{{- define "podlab.netpol.pods" -}}
- podSelector:
    matchLabels:
      {{- include "podlab.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* Egress to the database server: the bundled pod, the CIDR in podlab.network.database,
     or (neither known) the port anywhere. (dict "root" $ "port" 5432) */}}
{{- define "podlab.netpol.databaseEgress" -}}
{{- $database := ((.root.Values.podlab.network).database) -}}
{{- if .root.Values.postgresql.bundled.enabled -}}
- to:
    {{- include "podlab.netpol.pods" (dict "root" .root "component" "postgresql") | nindent 4 }}
  ports:
    - {port: 5432, protocol: TCP}
{{- else if $database -}}
- to:
    - ipBlock: {cidr: {{ $database.cidr }}}
  ports:
    - {port: {{ $database.port | default 5432 }}, protocol: TCP}
{{- else -}}
- ports:
    - {port: {{ .port }}, protocol: TCP}
{{- end }}
{{- end -}}
