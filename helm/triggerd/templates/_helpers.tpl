{{/* Names: at most 63 characters, as Kubernetes names and labels allow. */}}
{{- define "triggerd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "triggerd.fullname" -}}
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

{{- define "triggerd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "triggerd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "triggerd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "triggerd.labels" -}}
helm.sh/chart: {{ include "triggerd.chart" . }}
{{ include "triggerd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: triggerd
{{- end }}

{{- define "triggerd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "triggerd.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "triggerd.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where KEDA reaches the scaler: the Service's cluster DNS name and the scaler port. */}}
{{- define "triggerd.scalerAddress" -}}
{{- printf "%s.%s.svc.%s:%d" (include "triggerd.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.ports.scaler) }}
{{- end }}

{{/*
triggerd.yaml: the `config` value with the listen addresses the chart owns. Ports and the
scaler switch live in values so that the Service, the probes and the ScaledObjects agree with
what triggerd listens on; setting the addresses in `config` as well would let them disagree.
*/}}
{{- define "triggerd.config" -}}
{{- $config := deepCopy .Values.config }}
{{- $server := dict }}
{{- if hasKey $config "server" }}
{{- $server = $config.server }}
{{- end }}
{{- range $key := list "listen" "admin_listen" "scaler_listen" }}
{{- if hasKey $server $key }}
{{- fail (printf "config.server.%s is set by the chart: use ports.* and scaler.enabled instead" $key) }}
{{- end }}
{{- end }}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.ports.webhook)) }}
{{- $_ = set $server "admin_listen" (printf "0.0.0.0:%d" (int .Values.ports.admin)) }}
{{- if .Values.scaler.enabled }}
{{- $_ = set $server "scaler_listen" (printf "0.0.0.0:%d" (int .Values.ports.scaler)) }}
{{- end }}
{{- $_ = set $config "server" $server }}
{{- toYaml $config }}
{{- end }}

{{/*
Whole seconds of a triggerd duration ("25s", "1m30s", "500ms"; milliseconds round up), for
comparing server.shutdown_timeout with the pod's grace period.
*/}}
{{- define "triggerd.durationSeconds" -}}
{{- $d := toString . }}
{{- if not (regexMatch "^([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$" $d) }}
{{- fail (printf "config.server.shutdown_timeout %q is not a duration such as 25s or 1m30s" $d) }}
{{- end }}
{{- $h := regexFind "[0-9]+h" $d | trimSuffix "h" | default "0" | int }}
{{- $m := regexFind "[0-9]+m([0-9]|$)" $d | regexFind "[0-9]+m" | trimSuffix "m" | default "0" | int }}
{{- $s := regexFind "(^|[hm])[0-9]+s" $d | regexFind "[0-9]+" | default "0" | int }}
{{- $ms := regexFind "[0-9]+ms" $d | trimSuffix "ms" | default "0" | int }}
{{- add (mul $h 3600) (mul $m 60) $s (div (add $ms 999) 1000) }}
{{- end }}

{{- define "triggerd.terminationGracePeriodSeconds" -}}
{{- $shutdown := 25 }}
{{- $server := default dict .Values.config.server }}
{{- if hasKey $server "shutdown_timeout" }}
{{- $shutdown = include "triggerd.durationSeconds" $server.shutdown_timeout | int }}
{{- end }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $shutdown 10 }}
{{- else }}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- if le $grace $shutdown }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above server.shutdown_timeout (%d s), or in-flight events are killed before they finish" $grace $shutdown) }}
{{- end }}
{{- $grace }}
{{- end }}
{{- end }}
