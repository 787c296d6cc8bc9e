#!/usr/bin/env bash
# The container image's root file system, checked without docker: the files the Dockerfile
# adds to its base are laid out from a build tree by packaging/stage-rootfs, as the image's
# build stage does, and then
#   - the tree holds what it should and nothing else (no test or benchmark binaries);
#   - every shared library the installed binary loads comes from a package of
#     packaging/runtime-packages.txt (the list the Dockerfile installs) or from the base image,
#     and every package of that list is needed;
#   - the image's build packages cover what CMake asks for, and CMake configures without
#     GoogleTest as the image's build stage does;
#   - the Dockerfile agrees with the Helm chart (user, entrypoint, config path, ports) and with
#     the project's version;
#   - the installed binary runs as the image runs it (as uid 65532 when this runs as root, with
#     an empty environment, outside the build tree): `version`, `validate` of the default config,
#     and `run` on it until /readyz answers 200 and a webhook reaches a function, then SIGTERM
#     and exit 0.
#
#   tests/install/run_install_test.sh --build-dir DIR --function-stub BIN --version X.Y.Z
#                                     [--cmake BIN]
#
# Every case runs; the exit status is 1 when any failed. Needs a Debian 12 machine where
# scripts/setup has run (dpkg, ldd, readelf, curl, python3).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir="" function_stub="" version="" cmake=cmake
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --function-stub) function_stub=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --cmake) cmake=$2; shift 2 ;;
    *) echo "usage: $0 --build-dir DIR --function-stub BIN --version X.Y.Z [--cmake BIN]" >&2
       exit 2 ;;
  esac
done
if [ -z "$build_dir" ] || [ -z "$function_stub" ] || [ -z "$version" ]; then
  echo "usage: $0 --build-dir DIR --function-stub BIN --version X.Y.Z [--cmake BIN]" >&2
  exit 2
fi

work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
# The image's user must be able to reach the staged tree under it.
chmod 0755 "$work"
rootfs=$work/rootfs
source "$root/tests/support/cases.sh"


# The entries of a package list (packaging/*.txt): comments and blank lines dropped.
list_packages() { sed -e 's/#.*//' "$1" | xargs -n1; }

# The first value of a Dockerfile instruction, e.g. `dockerfile USER`.
dockerfile() { sed -n "s/^$1[[:space:]]\{1,\}//p" "$root/Dockerfile" | head -n1; }

echo "staging the image's files: packaging/stage-rootfs $build_dir $rootfs"
if ! CMAKE=$cmake "$root/packaging/stage-rootfs" "$build_dir" "$rootfs" >"$work/stage.log" 2>&1; then
  cat "$work/stage.log"
  echo "FAIL: packaging/stage-rootfs failed"
  exit 1
fi
triggerd=$rootfs/usr/bin/triggerd

tree_is_as_expected() {
  local expected=$work/expected actual=$work/actual ok=0
  {
    echo etc/triggerd/triggerd.yaml
    echo usr/bin/triggerd
    echo usr/share/doc/triggerd/README.md
    echo usr/share/doc/triggerd/LICENSE
    (cd "$root" && ls docs/*.md) | sed 's|^|usr/share/doc/triggerd/|'
    echo usr/share/triggerd/alerts/triggerd.rules.yml
    echo usr/share/triggerd/dashboards/triggerd.json
    echo usr/share/triggerd/examples/triggerd.yaml
  } | LC_ALL=C sort >"$expected"
  (cd "$rootfs" && find . ! -type d | sed 's|^\./||' | LC_ALL=C sort) >"$actual"
  if ! diff -u "$expected" "$actual"; then
    echo "the staged tree differs from the expected one (- expected, + staged)"
    ok=1
  fi
  [ -x "$triggerd" ] || { echo "usr/bin/triggerd is not executable"; ok=1; }
  # The copies are the sources as they are (the config one included), readable by anyone: the
  # image's user is not their owner.
  local source staged
  while read -r source staged; do
    cmp "$root/$source" "$rootfs/$staged" || ok=1
    [ "$(stat -c %a "$rootfs/$staged")" = 644 ] ||
      { echo "$staged: mode $(stat -c %a "$rootfs/$staged"), not 644"; ok=1; }
  done <<'PAIRS'
examples/triggerd.yaml etc/triggerd/triggerd.yaml
examples/triggerd.yaml usr/share/triggerd/examples/triggerd.yaml
alerts/triggerd.rules.yml usr/share/triggerd/alerts/triggerd.rules.yml
dashboards/triggerd.json usr/share/triggerd/dashboards/triggerd.json
PAIRS
  # Stripped, as the image's binary is: its debug info would be most of its size.
  if readelf -S "$triggerd" | grep -q '\.debug_info'; then
    echo "usr/bin/triggerd still has debug info (not stripped)"; ok=1
  fi
  # A run path into the build tree would load libraries that are not in the image.
  if readelf -d "$triggerd" | grep -E 'RPATH|RUNPATH'; then
    echo "usr/bin/triggerd has a run path"; ok=1
  fi
  [ $ok = 0 ] && echo "$(wc -l <"$actual") files, as expected"
  return $ok
}

# The ways dpkg may have recorded FILE: with Debian 12's merged /usr, a library ldd finds in
# /lib may be shipped as /usr/lib, and a symlink's target may be recorded rather than the link.
recorded_paths() {
  local real
  real=$(readlink -f "$1")
  printf '%s\n' "$1" "$real" "/usr$1" "/usr$real" "${1#/usr}" "${real#/usr}"
}

libraries_come_from_listed_packages() {
  local ok=0 lib path package candidate
  list_packages "$root/packaging/runtime-packages.txt" | sort -u >"$work/listed"
  python3 "$root/tests/install/base_packages.py" >"$work/base" || return 1
  if ! ldd "$triggerd" >"$work/ldd"; then cat "$work/ldd"; return 1; fi
  if grep 'not found' "$work/ldd"; then echo "libraries not found"; ok=1; fi
  # "name => /path (address)", or "/path (address)" for the dynamic loader; the vDSO has no file.
  awk '$2 == "=>" && $3 ~ /^\// {print $1, $3} $1 ~ /^\// {print $1, $1}' "$work/ldd" \
    >"$work/libraries"
  # One dpkg call for all of them (each takes a fifth of a second): "path package" lines.
  while read -r lib path; do recorded_paths "$path"; done <"$work/libraries" | sort -u |
    xargs dpkg -S 2>/dev/null |
    awk -F': ' '{package = $1; sub(/[:,].*/, "", package); print $NF, package}' >"$work/owners"
  : >"$work/used"
  while read -r lib path; do
    package=""
    while read -r candidate; do
      package=$(awk -v path="$candidate" '$1 == path {print $2; exit}' "$work/owners")
      [ -n "$package" ] && break
    done < <(recorded_paths "$path")
    if [ -z "$package" ]; then
      echo "$lib ($path): no Debian package owns it"; ok=1; continue
    fi
    echo "$package $lib" >>"$work/used"
    if ! grep -qx "$package" "$work/listed" && ! grep -qx "$package" "$work/base"; then
      echo "$lib comes from $package, which is neither in packaging/runtime-packages.txt" \
           "nor in the base image"
      ok=1
    fi
  done <"$work/libraries"
  # One line per package: where it comes from, and the libraries it brings.
  local where
  while read -r package; do
    if grep -qx "$package" "$work/listed"; then
      where="runtime-packages.txt"
    elif grep -qx "$package" "$work/base"; then
      where="base image"
    else
      where="MISSING"
    fi
    echo "$package ($where): $(awk -v p="$package" '$1 == p {print $2}' "$work/used" | xargs)"
  done < <(cut -d' ' -f1 "$work/used" | sort -u)
  echo "$(wc -l <"$work/libraries") libraries from $(cut -d' ' -f1 "$work/used" | sort -u | wc -l) packages"
  return $ok
}

listed_packages_are_needed() {
  local ok=0 package
  [ -s "$work/used" ] || { echo "no libraries were attributed (the case above failed)"; return 1; }
  while read -r package; do
    case "$package" in
      # Not libraries: ca-certificates for librdkafka's TLS connections, tzdata for cron
      # triggers with a time zone (see the list's comments).
      ca-certificates|tzdata) echo "$package: named in this test as needed without a library" ;;
      *)
        if cut -d' ' -f1 "$work/used" | grep -qx "$package"; then
          echo "$package: needed"
        else
          echo "$package: no library the binary loads comes from it (stale, or a typo)"; ok=1
        fi ;;
    esac
  done <"$work/listed"
  return $ok
}

build_packages_cover_cmake() {
  local ok=0
  list_packages "$root/packaging/build-packages.txt" | sort -u >"$work/build-listed"
  # The Debian packages cmake/Dependencies.cmake names for each dependency it requires (the
  # last quoted argument of each triggerd_require), but GoogleTest's: the image builds no tests.
  python3 - "$root/cmake/Dependencies.cmake" >"$work/cmake-wants" <<'PY' || return 1
import re, sys
text = open(sys.argv[1]).read()
for call in re.findall(r"triggerd_require\((.*?)\)\s*$", text, re.S | re.M):
    if call.split()[0] == "GTest_FOUND":
        continue
    print("\n".join(re.findall(r'"([^"]*)"', call)[-1].split()))
PY
  [ -s "$work/cmake-wants" ] || { echo "read no package from cmake/Dependencies.cmake"; return 1; }
  local package
  while read -r package; do
    grep -qx "$package" "$work/build-listed" ||
      { echo "cmake/Dependencies.cmake needs $package, packaging/build-packages.txt lacks it"; ok=1; }
  done <"$work/cmake-wants"
  echo "cmake/Dependencies.cmake's $(wc -l <"$work/cmake-wants") packages are all listed"
  # As the image's build stage configures; GoogleTest is installed here, so it is hidden.
  "$cmake" -S "$root" -B "$work/notests" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_TESTING=OFF -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON >"$work/configure.log" 2>&1 ||
    { cat "$work/configure.log"; echo "configure without GoogleTest failed"; ok=1; }
  [ $ok = 0 ] && echo "configures with -DBUILD_TESTING=OFF and no GoogleTest"
  return $ok
}

dockerfile_agrees_with_chart() {
  local ok=0 values=$root/helm/triggerd/values.yaml
  local deployment=$root/helm/triggerd/templates/deployment.yaml
  local chart_uid chart_gid user entrypoint cmd chart_args ports chart_ports
  chart_uid=$(sed -n 's/^  runAsUser: *//p' "$values" | head -n1)
  chart_gid=$(sed -n 's/^  runAsGroup: *//p' "$values" | head -n1)
  user=$(dockerfile USER)
  if [ "$user" = "$chart_uid:$chart_gid" ]; then
    echo "USER $user is the chart's runAsUser:runAsGroup"
  else
    echo "USER '$user', but the chart runs as '$chart_uid:$chart_gid'"; ok=1
  fi
  # The chart gives args only, so the entrypoint runs them.
  entrypoint=$(dockerfile ENTRYPOINT | sed -n 's/^\["\([^"]*\)"\]$/\1/p')
  if [ -n "$entrypoint" ] && [ -x "$rootfs$entrypoint" ]; then
    echo "ENTRYPOINT $entrypoint is the installed binary"
  else
    echo "ENTRYPOINT '$(dockerfile ENTRYPOINT)' is not one executable of the staged tree"; ok=1
  fi
  cmd=$(dockerfile CMD | tr -d ' ')
  chart_args=$(sed -n 's/^ *args: *//p' "$deployment" | head -n1 | tr -d ' ')
  if [ "$cmd" = "$chart_args" ]; then
    echo "CMD $cmd is the chart's args"
  else
    echo "CMD '$cmd', but the chart's args are '$chart_args'"; ok=1
  fi
  local config
  config=$(echo "$cmd" | sed -n 's/.*"-c","\([^"]*\)".*/\1/p')
  if [ -z "$config" ] || [ ! -f "$rootfs$config" ]; then
    echo "CMD's config '$config' is not in the staged tree"; ok=1
  fi
  ports=$(dockerfile EXPOSE | xargs -n1 | sort | xargs)
  chart_ports=$(sed -n '/^ports:/,/^$/s/^  [a-z]*: *\([0-9]*\)$/\1/p' "$values" | sort | xargs)
  if [ -n "$ports" ] && [ "$ports" = "$chart_ports" ]; then
    echo "EXPOSE $ports are the chart's ports"
  else
    echo "EXPOSE '$ports', but the chart's ports are '$chart_ports'"; ok=1
  fi
  local label_version
  label_version=$(sed -n 's/^ARG VERSION=//p' "$root/Dockerfile")
  if [ "$label_version" = "$version" ]; then
    echo "ARG VERSION=$label_version is the project's version"
  else
    echo "the Dockerfile's ARG VERSION is '$label_version', the project's version $version"; ok=1
  fi
  return $ok
}

# As the image runs the binary: as its user (when this test can switch to it), with nothing
# but what the image's ENV gives, in a directory without a triggerd.yaml. Use as
# (cd "$work/cwd" && exec "${as_image[@]}" VAR=VALUE... COMMAND...).
as_image=(env -i PATH=/usr/bin:/bin)
if [ "$(id -u)" = 0 ]; then
  as_image=(setpriv --reuid=65532 --regid=65532 --clear-groups "${as_image[@]}")
fi
mkdir -m 0755 "$work/cwd"

version_prints_the_version() {
  local out
  out=$(cd "$work/cwd" && exec "${as_image[@]}" "$triggerd" version) || return 1
  echo "$out"
  [ "$out" = "triggerd $version" ] || { echo "expected: triggerd $version"; return 1; }
}

validate_accepts_the_default_config() {
  (cd "$work/cwd" && exec "${as_image[@]}" "$triggerd" validate -c "$rootfs/etc/triggerd/triggerd.yaml")
}

free_ports() {
  python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'
}

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@"; }

run_serves_and_drains_on_sigterm() {
  # The example's function, printing what it receives.
  "$function_stub" --listen 127.0.0.1:0 --port-file "$work/stub.port" --print \
    >"$work/stub.log" 2>&1 &
  pids+=($!)
  disown $!   # stopped by the cleanup; bash need not report it
  for _ in $(seq 100); do [ -s "$work/stub.port" ] && break; sleep 0.1; done
  [ -s "$work/stub.port" ] || { echo "the function stub did not start"; cat "$work/stub.log"; return 1; }

  local webhook admin
  read -r webhook admin < <(free_ports)
  # The ports the example reads from the environment (as scripts/demo does), on loopback.
  local function_port
  function_port=$(cat "$work/stub.port")
  (cd "$work/cwd" && exec "${as_image[@]}" "TRIGGERD_LISTEN=127.0.0.1:$webhook" \
     "TRIGGERD_ADMIN_LISTEN=127.0.0.1:$admin" "EXAMPLE_FUNCTION=127.0.0.1:$function_port" \
     "$triggerd" run -c "$rootfs/etc/triggerd/triggerd.yaml") >"$work/triggerd.log" 2>&1 &
  local pid=$!
  pids+=("$pid")

  local code="" started=$SECONDS
  while [ $((SECONDS - started)) -lt 20 ]; do
    code=$(http_code "http://127.0.0.1:$admin/readyz")
    [ "$code" = 200 ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  if [ "$code" != 200 ]; then
    echo "/readyz answered '$code', not 200"; cat "$work/triggerd.log"; return 1
  fi
  echo "/readyz: 200 after $((SECONDS - started)) s"

  code=$(http_code -X POST -H 'Content-Type: application/json' -d '{"from":"install-test"}' \
           "http://127.0.0.1:$webhook/hooks/hello")
  [ "$code" = 202 ] || { echo "webhook POST answered '$code', not 202"; cat "$work/triggerd.log"; return 1; }
  for _ in $(seq 100); do grep -q 'install-test' "$work/stub.log" && break; sleep 0.1; done
  grep -q 'install-test' "$work/stub.log" ||
    { echo "the webhook's event did not reach the function"; cat "$work/triggerd.log"; return 1; }
  echo "webhook POST: 202, and the function received the event"

  # SIGTERM drains and exits 0 within server.shutdown_timeout (25 s by default; nothing is in
  # flight here, so it should take far less).
  kill -TERM $pid
  local stopped=$SECONDS status
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 $pid 2>/dev/null; then
    echo "still running 30 s after SIGTERM"; cat "$work/triggerd.log"; return 1
  fi
  wait $pid
  status=$?
  echo "exit status $status after SIGTERM, $((SECONDS - stopped)) s"
  [ $status = 0 ] || { cat "$work/triggerd.log"; return 1; }
}

case_ "the tree holds the binary, the default config, the example, the alert rules, the dashboard and the docs, and nothing else" \
  tree_is_as_expected
case_ "every library the binary loads comes from runtime-packages.txt or the base image" \
  libraries_come_from_listed_packages
case_ "every package in runtime-packages.txt is needed" listed_packages_are_needed
case_ "the build packages cover cmake/Dependencies.cmake; configures without GoogleTest" \
  build_packages_cover_cmake
case_ "the Dockerfile agrees with the chart and the staged tree" dockerfile_agrees_with_chart
case_ "installed: triggerd version" version_prints_the_version
case_ "installed: triggerd validate -c /etc/triggerd/triggerd.yaml" \
  validate_accepts_the_default_config
case_ "installed: triggerd run serves, delivers a webhook, and exits 0 on SIGTERM" \
  run_serves_and_drains_on_sigterm

cases_done "install tests"
