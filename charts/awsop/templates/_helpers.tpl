{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "awsop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: "<release>-<chart>", or the release name if it already contains the chart name.
*/}}
{{- define "awsop.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "awsop.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Standard labels (https://helm.sh/docs/chart_best_practices/labels/).
*/}}
{{- define "awsop.labels" -}}
helm.sh/chart: {{ include "awsop.chart" . }}
{{ include "awsop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: awsop
app.kubernetes.io/component: operator
{{- end }}

{{/*
Selector labels: stable across upgrades (never add version-dependent labels here).
*/}}
{{- define "awsop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "awsop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "awsop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "awsop.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "awsop.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
"true" when kopf peering is on: more than one replica, or forced with ha.enabled.
*/}}
{{- define "awsop.peering.enabled" -}}
{{- if or (gt (int .Values.replicaCount) 1) .Values.ha.enabled }}true{{- end }}
{{- end }}

{{- define "awsop.peering.name" -}}
{{- default (include "awsop.fullname" .) .Values.ha.peeringName }}
{{- end }}

{{/*
"true" in namespace-scoped mode (watchNamespaces is not empty).
*/}}
{{- define "awsop.namespaced" -}}
{{- if .Values.watchNamespaces }}true{{- end }}
{{- end }}

{{/*
The awsop kinds: API group, plural and scope. The single source for RBAC.
*/}}
{{- define "awsop.kindTable" -}}
Bucket: {group: s3.awsop.io, plural: buckets, namespaced: true}
Queue: {group: sqs.awsop.io, plural: queues, namespaced: true}
Table: {group: dynamodb.awsop.io, plural: tables, namespaced: true}
AutoScalingGroup: {group: autoscaling.awsop.io, plural: autoscalinggroups, namespaced: true}
LaunchTemplate: {group: ec2.awsop.io, plural: launchtemplates, namespaced: true}
TagPolicy: {group: awsop.io, plural: tagpolicies, namespaced: false}
AWSAccount: {group: awsop.io, plural: awsaccounts, namespaced: false}
{{- end }}

{{/*
RBAC rules for the enabled kinds of one scope.
Call with (dict "root" $ "namespaced" true|false).
*/}}
{{- define "awsop.kindRules" -}}
{{- $table := include "awsop.kindTable" .root | fromYaml }}
{{- range .root.Values.kinds }}
{{- $k := get $table . }}
{{- if eq $k.namespaced $.namespaced }}
# {{ . }}
- apiGroups: [{{ $k.group | quote }}]
  resources: [{{ $k.plural | quote }}]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: [{{ $k.group | quote }}]
  resources: [{{ printf "%s/status" $k.plural | quote }}]
  verbs: ["patch", "update"]
{{- end }}
{{- end }}
{{- end }}

{{/*
Rules for the operator's Events: a repeat of an Event is a patch of its count (operator/events.py).
*/}}
{{/*
spec.outputs: the ConfigMaps (and, unless outputs.secrets is false, Secrets) awsop writes for the objects
in a namespace: read, created, server-side applied, deleted (those it created, with their object).
*/}}
{{- define "awsop.outputRules" -}}
- apiGroups: [""]
  resources: [{{ ternary "\"configmaps\", \"secrets\"" "\"configmaps\"" .Values.outputs.secrets }}]
  verbs: ["get", "create", "patch", "delete"]
{{- end }}

{{- define "awsop.eventRules" -}}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/*
Rules for kopf's discovery of CRDs and namespaces (cluster-scoped in every mode).
*/}}
{{- define "awsop.discoveryRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{- define "awsop.hasNamespacedKinds" -}}
{{- $table := include "awsop.kindTable" . | fromYaml }}
{{- range .Values.kinds }}{{- if (get $table .).namespaced }}true{{- end }}{{- end }}
{{- end }}

{{- define "awsop.hasClusterKinds" -}}
{{- $table := include "awsop.kindTable" . | fromYaml }}
{{- range .Values.kinds }}{{- if not (get $table .).namespaced }}true{{- end }}{{- end }}
{{- end }}

{{/*
The webhook's Service and the Secret holding its certificate (tls.crt, tls.key, ca.crt).
*/}}
{{- define "awsop.webhook.service" -}}
{{- printf "%s-webhook" (include "awsop.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "awsop.webhook.secret" -}}
{{- printf "%s-webhook-tls" (include "awsop.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The kopf peering name of one shard: the release's for the first shard (or when unsharded), with the shard's
name appended for the others. Each shard has its own peering (one active replica per shard).
*/}}
{{- define "awsop.peering.shardName" -}}
{{- if .first }}
{{- include "awsop.peering.name" .root }}
{{- else }}
{{- printf "%s-%s" (include "awsop.peering.name" .root) .shard.name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
