#!/bin/sh
# expect_exit.sh CODE PATTERN COMMAND [ARG...]: runs COMMAND, prints what it printed, and passes when it exited with
# CODE and printed a line matching PATTERN (grep -E). CTest's PASS_REGULAR_EXPRESSION alone ignores the exit status,
# so a program that printed its message and then crashed would pass.
[ $# -ge 3 ] || { echo "usage: $0 CODE PATTERN COMMAND [ARG...]" >&2; exit 2; }
code=$1 pattern=$2
shift 2
output=$("$@" 2>&1)
status=$?
printf '%s\n' "$output"
[ "$status" -eq "$code" ] || { echo "expect_exit: exit status $status, expected $code" >&2; exit 1; }
printf '%s\n' "$output" | grep -Eq -- "$pattern" || { echo "expect_exit: no line matches: $pattern" >&2; exit 1; }
