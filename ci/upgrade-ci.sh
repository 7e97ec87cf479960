#!/usr/bin/env bash
# The Upgrade CI job: the whole octane upgrade on a fresh embedded lab, every stage with its
# reports, validation only again, then the reports copied to the output folder.
#
# usage: ci/upgrade-ci.sh [--out DIR] [--lab-dir DIR] [--prefix N] [-- FUELLAB_UP_OPTION...]
#
#   --out DIR      where the reports are copied (default: $OCTANE_CI_OUT, else ./ci-output)
#   --lab-dir DIR  the lab's folder; it must not exist yet or be empty (default: a new temporary
#                  folder, removed at the end)
#   --prefix N     the lab's address block, 127.N.0.0/16 to 127.N+4.0.0/16 (default:
#                  $OCTANE_CI_PREFIX, else 40: clear of the default lab's 20 and of the tests' 100-249)
#   after --       options of `fuellab up` (the scenario's sizes: --computes 20 --vms 60 ...)
#
# Environment: PYTHON (default: the repository's .venv/bin/python, made with `make venv` when
# missing), OCTANE_CI_TIMEOUT (seconds for each pytest run, default 3600), OCTANE_CI_REPORT=0
# (skip `octane report`: a quicker local run; the job itself keeps the default, 1),
# OCTANE_CI_PLAN_SCALE (octane plan's --scale: the lab's speed next to hardware's, default 0.001,
# the lab's default time factor).
#
# What it does, in order: `fuellab up` (a fresh lab); `octane plan` (plan.txt); every stage
# (`pytest runbook/stages`: JUnit XML junit-upgrade.xml, Allure results allure-results/);
# when they all passed, validation only (`--validate-only`: junit-validate.xml,
# allure-results-validate/); `octane status` (status.txt: the journal, plan vs what ran);
# `octane report` when this octane has it (compliance.html, timeline.png, allure-report/); the
# workload monitor's figures (monitor.txt, monitor.json); the journal (env-<id>-journal.json, redacted)
# and the lab's ledger (lab-ledger.json: lost writes, outages, bytes moved; the lab's own view,
# for the record). Then the monitor and the lab are stopped and the temporary folder removed,
# whatever happened before.
#
# Exit codes: 0 every stage and the validation passed; 1 a stage or the validation failed (or
# the plan could not be made); 2 bad usage; 3 the job itself could not run (no Python
# environment, the lab did not start, a report could not be written).

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OCTANE_CI_OUT:-ci-output}
PREFIX=${OCTANE_CI_PREFIX:-40}
LAB_DIR=""
LAB_OPTS=()
RUN_TIMEOUT=${OCTANE_CI_TIMEOUT:-3600}

usage() {
    sed -n '5,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || usage; OUT=$2; shift 2 ;;
        --lab-dir) [ $# -ge 2 ] || usage; LAB_DIR=$2; shift 2 ;;
        --prefix) [ $# -ge 2 ] || usage; PREFIX=$2; shift 2 ;;
        --) shift; LAB_OPTS=("$@"); break ;;
        -h|--help) usage ;;
        *) echo "upgrade-ci: unknown argument $1" >&2; usage ;;
    esac
done
case "$PREFIX" in ''|*[!0-9]*) echo "upgrade-ci: --prefix $PREFIX is not a number" >&2; exit 2 ;; esac

log() { printf '%s upgrade-ci: %s\n' "$(date -u +%H:%M:%S)" "$*"; }

PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
if [ ! -x "$PYTHON" ]; then
    log "no Python environment at $PYTHON: make venv"
    make -C "$ROOT" venv || { log "make venv failed"; exit 3; }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/octane-ci.XXXXXX") || exit 3
if [ -z "$LAB_DIR" ]; then
    LAB_DIR=$WORK/lab
elif [ -e "$LAB_DIR" ] && [ -n "$(ls -A "$LAB_DIR" 2>/dev/null)" ]; then
    echo "upgrade-ci: $LAB_DIR is not empty: the job needs a fresh lab" >&2
    rm -rf "$WORK"
    exit 2
fi
LAB_DIR=$(mkdir -p "$LAB_DIR" && cd "$LAB_DIR" && pwd) || exit 3
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 3
REPORTS=$WORK/reports
TARGET=$LAB_DIR/target.yaml
mkdir -p "$REPORTS"

octane() { (cd "$ROOT" && "$PYTHON" -m runbook.cli --target "$TARGET" --reports "$REPORTS" "$@"); }
fuellab() { (cd "$ROOT" && "$PYTHON" -m fuellab.cli "$@"); }
stages() {
    (cd "$ROOT" && timeout --kill-after=60 "$RUN_TIMEOUT" "$PYTHON" -m pytest runbook/stages \
        --target "$TARGET" -p no:cacheprovider "$@")
}

# shellcheck disable=SC2317  # called by the EXIT trap, which shellcheck does not follow
finish() {
    log "collecting the reports into $OUT and stopping the lab"
    if [ -f "$TARGET" ]; then
        octane monitor report --json "$REPORTS/monitor.json" >"$REPORTS/monitor.txt" 2>&1 \
            || log "no workload monitor figures (see monitor.txt)"
        octane monitor stop >/dev/null 2>&1
        fuellab inspect --dir "$LAB_DIR" >"$REPORTS/lab-ledger.json" 2>/dev/null || rm -f "$REPORTS/lab-ledger.json"
        for journal in "$LAB_DIR"/journal/env-*/journal.json; do
            [ -f "$journal" ] && cp "$journal" "$REPORTS/$(basename "$(dirname "$journal")")-journal.json"
        done
        fuellab down --dir "$LAB_DIR" >/dev/null 2>&1 || log "fuellab down failed"
    fi
    rm -rf "$OUT/allure-results" "$OUT/allure-results-validate" "$OUT/allure-report"
    cp -R "$REPORTS"/. "$OUT"/ || log "copying the reports to $OUT failed"
    rm -rf "$WORK"
}
trap finish EXIT
trap 'exit 130' INT TERM

log "starting a fresh lab in $LAB_DIR (prefix $PREFIX)"
if ! fuellab up --detach --dir "$LAB_DIR" --prefix "$PREFIX" "${LAB_OPTS[@]}"; then
    log "the lab did not start"
    exit 3
fi

status=0
log "octane plan"
if ! octane plan "$(awk '/^env:/ {print $2}' "$TARGET")" --scale "${OCTANE_CI_PLAN_SCALE:-0.001}" \
        | tee "$REPORTS/plan.txt"; then
    log "octane plan failed"
    status=1
fi

log "the whole upgrade: every stage"
stages --junitxml="$REPORTS/junit-upgrade.xml" --alluredir="$REPORTS/allure-results"
upgrade=$?
if [ "$upgrade" -eq 0 ]; then
    log "validation only, again"
    stages --validate-only --junitxml="$REPORTS/junit-validate.xml" --alluredir="$REPORTS/allure-results-validate"
    validate=$?
    [ "$validate" -eq 0 ] || { log "validation failed (pytest exit $validate)"; status=1; }
else
    log "the upgrade failed (pytest exit $upgrade): no validation run"
    status=1
fi

octane status | tee "$REPORTS/status.txt"

if [ "${OCTANE_CI_REPORT:-1}" != 0 ] && octane report --help >/dev/null 2>&1; then
    log "octane report"
    octane report || { log "octane report failed"; [ "$status" -ne 0 ] || status=3; }
fi

if [ "$status" -eq 0 ]; then log "passed"; else log "FAILED (exit $status)"; fi
exit "$status"
