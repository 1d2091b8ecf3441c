{{/* A helm test pod that GETs a URL with the hub image's Python and checks the answer. */}}
{{- define "podlab.testPod" -}}
apiVersion: v1
kind: Pod
metadata:
  {{- include "podlab.metadata" (dict "root" .root "component" "test" "name" (include "podlab.componentName" (dict "root" .root "component" (printf "test-%s" .name)))) | nindent 2 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  securityContext:
    {{- include "podlab.podSecurityContext" 10001 | nindent 4 }}
  {{- with (include "podlab.imagePullSecrets" .root | trim) }}{{ . | nindent 2 }}{{- end }}
  containers:
    - name: check
      image: {{ include "podlab.image" .root.Values.hub.image }}
      imagePullPolicy: {{ .root.Values.hub.image.pullPolicy }}
      command:
        - python3
        - -c
        - |
          import json, sys, time, urllib.request
          url, expect = sys.argv[1], sys.argv[2]
          for attempt in range(30):
              try:
                  with urllib.request.urlopen(url, timeout=5) as response:
                      body = response.read().decode()
                  break
              except OSError as err:
                  print(f"{url}: {err} (attempt {attempt + 1}/30)", flush=True)
                  time.sleep(2)
          else:
              sys.exit(f"FAIL: {url} did not answer; check the pods and the NetworkPolicies")
          if expect not in body:
              sys.exit(f"FAIL: {url} answered {body[:200]!r}, expected it to contain {expect!r}")
          print(f"OK: {url} -> {body[:200]}")
        - {{ .url | quote }}
        - {{ .expect | quote }}
      resources:
        {{- toYaml .root.Values.tests.resources | nindent 8 }}
      securityContext:
        {{- include "podlab.containerSecurityContext" 10001 | nindent 8 }}
{{- end -}}
