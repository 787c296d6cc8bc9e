# Sourced by the shell tests (tests/helm, tests/install): each check is a case with a name,
# its output shown indented, and the run fails at the end if any case did. Needs $work, a
# scratch folder of the sourcing script.

failed=()

# case_ NAME COMMAND...: runs one case, prints its output indented, records a failure.
case_() {
  local name=$1; shift
  echo "=== $name"
  if "$@" >"$work/out" 2>&1; then
    sed 's/^/    /' "$work/out"
    echo "--- PASS $name"
  else
    sed 's/^/    /' "$work/out"
    echo "--- FAIL $name"
    failed+=("$name")
  fi
}

# cases_done WHAT: the summary line; exits 1 if any case failed.
cases_done() {
  echo
  if [ ${#failed[@]} -eq 0 ]; then
    echo "$1: all cases passed"
  else
    echo "$1: ${#failed[@]} case(s) failed:"
    printf '  %s\n' "${failed[@]}"
    exit 1
  fi
}
