#!/usr/bin/env bash
# The action's main step: run dalperf, keep its exit code, and leave the digest, the SARIF
# file and the step summary where the next steps find them.
#
# Inputs (set by action.yml): DALPERF_COMMAND (audit | pytest | compare), DALPERF_ARGS (one
# shell-quoted string), DALPERF_OUT (output folder). GitHub sets GITHUB_OUTPUT and
# GITHUB_STEP_SUMMARY; outside GitHub both may be unset.
set -uo pipefail

command="${DALPERF_COMMAND:-audit}"
mkdir -p "${DALPERF_OUT:-dalperf-out}" || exit 3
out="$(cd "${DALPERF_OUT:-dalperf-out}" && pwd)"
# split DALPERF_ARGS as a shell would, without evaluating it (no expansions, no commands)
split="$(mktemp)"
trap 'rm -f "$split"' EXIT
python -c 'import os, shlex, sys; sys.stdout.write("".join(a + "\0" for a in shlex.split(os.environ.get("DALPERF_ARGS", ""))))' >"$split" 2>/dev/null \
    || { echo "dalperf action: args is not a valid shell-quoted string: ${DALPERF_ARGS:-}" >&2; exit 2; }
mapfile -d '' -t args <"$split"

sarif=""
case "$command" in
    audit)
        digest="$out/report.md"
        dalperf audit --out-dir "$out" "${args[@]}"
        status=$?
        ;;
    pytest)
        digest="$out/digest.md"
        sarif="$out/dalperf.sarif"
        python -m pytest --dalperf-json "$out/suite.json" --dalperf-html "$out/suite.html" \
            --dalperf-sarif "$sarif" "${args[@]}"
        status=$?
        [ -f "$out/suite.json" ] && dalperf digest "$out/suite.json" --out "$digest"
        ;;
    compare)
        digest="$out/compare.md"
        dalperf compare --out "$out/compare.json" "${args[@]}"
        status=$?
        [ -f "$out/compare.json" ] && dalperf digest "$out/compare.json" --out "$digest"
        ;;
    *)
        echo "dalperf action: command must be audit, pytest or compare, not '$command'" >&2
        exit 2
        ;;
esac

[ -f "$digest" ] || digest=""
[ -n "$sarif" ] && [ ! -f "$sarif" ] && sarif=""
if [ -n "$digest" ] && [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$digest" >> "$GITHUB_STEP_SUMMARY"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
    {
        echo "exit-code=$status"
        echo "digest=$digest"
        echo "sarif=$sarif"
    } >> "$GITHUB_OUTPUT"
fi
# the gate is the action's last step, after the SARIF upload and the comment
exit 0
