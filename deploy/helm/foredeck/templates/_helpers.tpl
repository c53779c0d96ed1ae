{{/* Names and labels. Kept to the template subset that tests/deploy/gotemplate.py renders. */}}
{{- define "foredeck.fullname" -}}
{{ .Release.Name | trunc 53 | trimSuffix "-" }}
{{- end }}

{{- define "foredeck.ciNamespace" -}}
{{ default .Release.Namespace .Values.ciNamespace }}
{{- end }}

{{- define "foredeck.labels" -}}
app.kubernetes.io/name: foredeck
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* One role's Deployment. Context: dict root, role, replicas, sa. */}}
{{- define "foredeck.deployment" -}}
{{- $root := .root }}
{{- $name := include "foredeck.fullname" $root }}
{{- $http := or (eq .role "hook") (eq .role "all") }}
{{- $kube := or (eq .role "controller") (eq .role "sinker") (eq .role "all") }}
{{- $github := not (or (eq .role "periodics") (eq .role "sinker")) }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}-{{ .role }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "foredeck.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .role }}
spec:
  replicas: {{ .replicas }}
  {{- if not $http }}
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      app.kubernetes.io/name: foredeck
      app.kubernetes.io/instance: {{ $root.Release.Name }}
      app.kubernetes.io/component: {{ .role }}
  template:
    metadata:
      labels:
        {{- include "foredeck.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .role }}
    spec:
      serviceAccountName: {{ $name }}-{{ .sa }}
      automountServiceAccountToken: {{ $kube }}
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: foredeck
          image: {{ printf "%s:%s" $root.Values.image.repository $root.Values.image.tag | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: ["serve", "--config", "/etc/foredeck/settings.yaml", "--role", {{ .role | quote }}]
          env:
            - name: FOREDECK_CONFIG_PATH
              value: /etc/foredeck/jobs.yaml
            - name: FOREDECK_CONTROLLER__WORKDIR
              value: /var/lib/foredeck/runs
            - name: FOREDECK_CONTROLLER__MIRROR_DIR
              value: /var/lib/foredeck/mirrors
            - name: HOME
              value: /var/lib/foredeck
            # Remote (Argo/Tekton) pods run `foredeck util clonerefs|upload` from this image.
            - name: FOREDECK_KUBE__UTILITY_IMAGE
              value: {{ printf "%s:%s" $root.Values.image.repository $root.Values.image.tag | quote }}
            - name: FOREDECK_DATABASE_URL
              valueFrom:
                secretKeyRef:
                  name: {{ $root.Values.secrets.name }}
                  key: {{ $root.Values.secrets.databaseUrlKey }}
            {{- if $github }}
            - name: FOREDECK_GITHUB__TOKEN_FILE
              value: /var/run/secrets/foredeck/github/token
            {{- end }}
            {{- if $http }}
            - name: FOREDECK_HOOK__HOST
              value: "0.0.0.0"
            - name: FOREDECK_HOOK__PORT
              value: "8888"
            - name: WEBHOOK_SECRET
              valueFrom:
                secretKeyRef:
                  name: {{ $root.Values.secrets.name }}
                  key: {{ $root.Values.secrets.webhookSecretKey }}
            - name: FOREDECK_HOOK__SECRETS
              value: '["$(WEBHOOK_SECRET)"]'
            {{- include "foredeck.accessEnv" $root | nindent 12 }}
            {{- end }}
            {{- with $root.Values.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- if $http }}
          ports:
            - name: http
              containerPort: 8888
              protocol: TCP
          readinessProbe:  # a short database read (given up after 2 s)
            httpGet:
              path: /readyz
              port: http
            periodSeconds: 10
            timeoutSeconds: 3
          livenessProbe:  # the process answers; a database outage restarts nothing
            httpGet:
              path: /livez
              port: http
            periodSeconds: 20
            failureThreshold: 6
          {{- end }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          resources:
            {{- toYaml $root.Values.resources | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /etc/foredeck
              readOnly: true
            - name: data
              mountPath: /var/lib/foredeck
            - name: tmp
              mountPath: /tmp
            {{- if $github }}
            - name: github
              mountPath: /var/run/secrets/foredeck/github
              readOnly: true
            {{- end }}
            {{- if $http }}
            {{- with include "foredeck.accessMounts" $root }}{{ . | trim | nindent 12 }}{{- end }}
            {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ $name }}-config
        - name: data
          emptyDir: {}
        - name: tmp
          emptyDir: {}
        {{- if $github }}
        - name: github
          secret:
            secretName: {{ $root.Values.secrets.name }}
            items:
              - key: {{ $root.Values.secrets.githubTokenKey }}
                path: token
        {{- end }}
        {{- if $http }}
        {{- with include "foredeck.accessVolumes" $root }}{{ . | trim | nindent 8 }}{{- end }}
        {{- end }}
      {{- with $root.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}


{{/* The HTTP pod's access settings (docs/access.md): bootstrap token, roles file, logins,
metrics. Secrets reach it as files (read at each use, so a rotated Secret is picked up) or
from secretKeyRef, never from values. */}}
{{- define "foredeck.accessEnv" -}}
{{- $a := .Values.access -}}
- name: FOREDECK_METRICS__PUBLIC
  value: {{ .Values.metrics.public | quote }}
{{- if .Values.metrics.token }}
- name: FOREDECK_METRICS__TOKEN_FILE
  value: /var/run/secrets/foredeck/metrics/token
{{- end }}
{{- if $a.bootstrapToken }}
- name: FOREDECK_API__TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.secrets.name }}
      key: {{ .Values.secrets.apiTokenKey }}
{{- end }}
{{- if $a.rolesConfigMap }}
- name: FOREDECK_API__ROLES_PATH
  value: {{ printf "/etc/foredeck-roles/%s" $a.rolesConfigMap.key | quote }}
{{- else if $a.roles }}
- name: FOREDECK_API__ROLES_PATH
  value: /etc/foredeck/roles.yaml
{{- end }}
{{- with $a.publicUrl }}
- name: FOREDECK_API__PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
{{- if $a.oidc.issuer }}
- name: FOREDECK_API__OIDC__ISSUER
  value: {{ $a.oidc.issuer | quote }}
- name: FOREDECK_API__OIDC__CLIENT_ID
  value: {{ required "access.oidc.clientId is required with access.oidc.issuer" $a.oidc.clientId | quote }}
- name: FOREDECK_API__OIDC__CLIENT_SECRET_FILE
  value: /var/run/secrets/foredeck/oidc/client-secret
{{- end }}
{{- if $a.githubLogin.clientId }}
- name: FOREDECK_API__GITHUB_LOGIN__CLIENT_ID
  value: {{ $a.githubLogin.clientId | quote }}
- name: FOREDECK_API__GITHUB_LOGIN__CLIENT_SECRET_FILE
  value: /var/run/secrets/foredeck/github-login/client-secret
{{- end }}
{{- end }}

{{- define "foredeck.accessMounts" -}}
{{- $a := .Values.access -}}
{{- if $a.rolesConfigMap }}
- name: roles
  mountPath: /etc/foredeck-roles
  readOnly: true
{{- end }}
{{- if $a.oidc.issuer }}
- name: oidc
  mountPath: /var/run/secrets/foredeck/oidc
  readOnly: true
{{- end }}
{{- if $a.githubLogin.clientId }}
- name: github-login
  mountPath: /var/run/secrets/foredeck/github-login
  readOnly: true
{{- end }}
{{- if .Values.metrics.token }}
- name: metrics-token
  mountPath: /var/run/secrets/foredeck/metrics
  readOnly: true
{{- end }}
{{- end }}

{{/* A directory mount, not subPath: the kubelet updates it when the ConfigMap or Secret
changes, so the roles file reloads and a rotated client secret is read at the next login. */}}
{{- define "foredeck.accessVolumes" -}}
{{- $a := .Values.access -}}
{{- if $a.rolesConfigMap }}
- name: roles
  configMap:
    name: {{ required "access.rolesConfigMap.name is required" $a.rolesConfigMap.name }}
    items:
      - key: {{ required "access.rolesConfigMap.key is required" $a.rolesConfigMap.key }}
        path: {{ $a.rolesConfigMap.key }}
{{- end }}
{{- if $a.oidc.issuer }}
- name: oidc
  secret:
    secretName: {{ default .Values.secrets.name $a.oidc.secretName }}
    items:
      - key: {{ $a.oidc.secretKey }}
        path: client-secret
{{- end }}
{{- if $a.githubLogin.clientId }}
- name: github-login
  secret:
    secretName: {{ default .Values.secrets.name $a.githubLogin.secretName }}
    items:
      - key: {{ $a.githubLogin.secretKey }}
        path: client-secret
{{- end }}
{{- if .Values.metrics.token }}
- name: metrics-token
  secret:
    secretName: {{ .Values.secrets.name }}
    items:
      - key: {{ .Values.secrets.metricsTokenKey }}
        path: token
{{- end }}
{{- end }}
