#!/usr/bin/env bash
# The chart's tests, offline: helm lint, helm template of the default values and of
# ci/full-values.yaml, every rendered object against its schema (validate-manifests.js), what
# the chart promises on top (check-render.js), the rendered triggerd.yaml through
# `triggerd validate`, values the schema or the templates must refuse, and a packaged chart
# that carries the alert rules and the dashboard themselves (the chart holds them as symbolic
# links to alerts/ and dashboards/).
#
#   tests/helm/run_chart_tests.sh [--triggerd BIN] [--helm BIN]
#
# BIN defaults: $TRIGGERD_BINARY, else build/broker/triggerd; helm and the node modules come
# from scripts/install-helm, which touches the network only when its cache is empty
# (scripts/setup fills it). Every case runs; the exit status is 1 when any failed.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/tests/helm"
chart="$root/helm/triggerd"
triggerd=${TRIGGERD_BINARY:-$root/build/broker/triggerd}
helm=""
while [ $# -gt 0 ]; do
  case "$1" in
    --triggerd) triggerd=$2; shift 2 ;;
    --helm) helm=$2; shift 2 ;;
    *) echo "usage: $0 [--triggerd BIN] [--helm BIN]" >&2; exit 2 ;;
  esac
done

[ -n "$helm" ] || helm=$("$root/scripts/install-helm") || { echo "FAIL: no helm" >&2; exit 1; }
models=$(dirname "$(dirname "$helm")")/models
[ -x "$triggerd" ] || { echo "FAIL: no triggerd binary at $triggerd (build it, or --triggerd)" >&2; exit 1; }
[ -d "$models/node_modules" ] || { echo "FAIL: no node modules in $models (scripts/install-helm)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$root/tests/support/cases.sh"
api=(--api-versions monitoring.coreos.com/v1 --api-versions keda.sh/v1alpha1)


# The config as a pod would see it: secret files exist (with made-up contents) where the
# chart mounts them, and the variables it reads are set.
validate_config() {
  local config=$1 dir="$work/config-$2"
  mkdir -p "$dir"
  sed "s#/var/run/secrets/triggerd/#$dir/secrets/#g" "$config" >"$dir/triggerd.yaml"
  grep -oE "[A-Za-z_]+_file: $dir/secrets/[^ ]+" "$dir/triggerd.yaml" | sed 's/^[^:]*: //' |
    while read -r file; do mkdir -p "$(dirname "$file")"; echo "made-up secret" >"$file"; done
  POD_NAME=triggerd-0 KAFKA_PASSWORD=made-up "$triggerd" validate -c "$dir/triggerd.yaml"
}

# render_and_check NAME EXPECTED_KINDS CHECK_CASE HELM_ARGS...
render_and_check() {
  local name=$1 kinds=$2 check=$3; shift 3
  "$helm" template triggerd "$chart" --namespace events "$@" >"$work/$name.yaml" || return 1
  node "$here/validate-manifests.js" --models "$models" --expect "$kinds" \
    --config-out "$work/$name.config.yaml" "$work/$name.yaml" || return 1
  if [ -n "$check" ]; then
    node "$here/check-render.js" --models "$models" --case "$check" "$work/$name.yaml" || return 1
  fi
  validate_config "$work/$name.config.yaml" "$name"
}

# refused WHAT MESSAGE HELM_ARGS...: helm template must fail, saying MESSAGE.
refused() {
  local what=$1 message=$2; shift 2
  if "$helm" template triggerd "$chart" "$@" >"$work/refused.out" 2>&1; then
    echo "accepted $what ($*)"; return 1
  fi
  if ! grep -qF -- "$message" "$work/refused.out"; then
    echo "refused $what, but without \"$message\":"; cat "$work/refused.out"; return 1
  fi
  echo "refused $what: $(grep -F -- "$message" "$work/refused.out" | head -1)"
}

refusals() {
  local status=0
  refused "a port that is not an integer" "at '/ports/admin': got string, want integer" \
    --set ports.admin=admin || status=1
  refused "an unknown top-level key" "additional properties 'replicas' not allowed" \
    --set replicas=3 || status=1
  refused "a misspelt nested key" "additional properties 'enable' not allowed" \
    --set serviceMonitor.enable=true || status=1
  refused "a listen address in the config" "additional properties 'listen' not allowed" \
    --set config.server.listen=0.0.0.0:80 || status=1
  refused "a replica count that is not an integer" "got string, want integer" \
    --set-string keda.functions.resize-image.maxReplicaCount=many || status=1
  refused "a misspelt dashboard switch" "additional properties 'enable' not allowed" \
    --set grafana.dashboard.enable=true || status=1
  refused "a dashboard label value that is not a string" "got number, want string" \
    --set grafana.dashboard.labelValue=1 || status=1
  refused "a config without triggers" "missing property 'triggers'" \
    --set config.triggers=null || status=1
  refused "a grace period not above shutdown_timeout" "must be above server.shutdown_timeout" \
    --set terminationGracePeriodSeconds=25 || status=1
  refused "KEDA without the scaler" "keda.enabled needs scaler.enabled" \
    "${api[@]}" --set keda.enabled=true || status=1
  refused "a ScaledObject for a function the config lacks" 'config.functions has no function "nope"' \
    "${api[@]}" --set keda.enabled=true,scaler.enabled=true --set-json 'keda.functions={"nope":{}}' \
    || status=1
  return $status
}

# Without the CRDs' API versions, the ServiceMonitor, the PrometheusRule and the ScaledObjects
# are left out; the dashboard, a plain ConfigMap, stays.
without_crds() {
  "$helm" template triggerd "$chart" -f "$chart/ci/full-values.yaml" >"$work/no-crds.yaml" &&
    node "$here/validate-manifests.js" --models "$models" \
      --expect ConfigMap,ConfigMap,Deployment,Pod,PodDisruptionBudget,Service,ServiceAccount \
      "$work/no-crds.yaml"
}

# The dashboard ConfigMap carries the label a sidecar is set to look for.
dashboard_label_follows_values() {
  "$helm" template t "$chart" --show-only templates/dashboard-configmap.yaml \
    --set grafana.dashboard.enabled=true,grafana.dashboard.label=team_dashboards \
    --set-string grafana.dashboard.labelValue=events >"$work/label.yaml" || return 1
  grep -E '^    (team_dashboards|grafana_dashboard):' "$work/label.yaml"
  grep -qxF '    team_dashboards: "events"' "$work/label.yaml" &&
    ! grep -q 'grafana_dashboard' "$work/label.yaml"
}

# A packaged chart is what a chart repository serves: it must hold the rules and the dashboard
# as files with the repository's content, not as links into a source tree it no longer has.
package_carries_rules_and_dashboard() {
  local file
  "$helm" package "$chart" --destination "$work/package" >/dev/null || return 1
  mkdir -p "$work/unpacked" && tar -xzf "$work/package"/triggerd-*.tgz -C "$work/unpacked" || return 1
  for file in alerts/triggerd.rules.yml dashboards/triggerd.json; do
    if [ -L "$work/unpacked/triggerd/$file" ] || [ ! -f "$work/unpacked/triggerd/$file" ]; then
      echo "the package has no file $file"; return 1
    fi
    cmp "$work/unpacked/triggerd/$file" "$root/$file" || return 1
    echo "the package's $file is the repository's $file"
  done
}

# A changed config changes the pod template, so the Deployment rolls.
checksum_follows_config() {
  local a b
  a=$("$helm" template t "$chart" --show-only templates/deployment.yaml | grep checksum/config) &&
  b=$("$helm" template t "$chart" --show-only templates/deployment.yaml --set config.log.level=debug |
      grep checksum/config) || return 1
  echo "info:  $a"; echo "debug: $b"
  [ "$a" != "$b" ]
}

echo "helm: $("$helm" version --short)  node: $(node --version)  triggerd: $triggerd"
case_ "lint, default values" "$helm" lint --strict "$chart"
case_ "lint, full values" "$helm" lint --strict "$chart" -f "$chart/ci/full-values.yaml"
case_ "default values render valid objects and a valid config" \
  render_and_check default ConfigMap,Deployment,Pod,Service,ServiceAccount default
case_ "full values render valid objects and a valid config" \
  render_and_check full \
  ConfigMap,ConfigMap,Deployment,Pod,PodDisruptionBudget,PrometheusRule,ScaledObject,ScaledObject,Service,ServiceAccount,ServiceMonitor \
  full -f "$chart/ci/full-values.yaml" "${api[@]}"
case_ "without the CRDs' API versions, no ServiceMonitor, PrometheusRule or ScaledObject" without_crds
case_ "the dashboard's sidecar label follows the values" dashboard_label_follows_values
case_ "the packaged chart carries the alert rules and the dashboard" package_carries_rules_and_dashboard
case_ "the config checksum follows the config" checksum_follows_config
case_ "bad values are refused" refusals

cases_done "chart tests"
