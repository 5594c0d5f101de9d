#!/bin/bash
# Run one libFuzzer target over its seed corpus without writing into the source tree: new
# inputs go to a temporary directory that is removed afterwards; a crash input is kept in the
# current directory (crash-*) for reproduction. Usage: run-fuzzer.sh FUZZER CORPUS DICT [ARGS...]
set -u
fuzzer=$1 corpus=$2 dict=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$fuzzer" -dict="$dict" -max_len=4096 -timeout=10 -rss_limit_mb=1024 "$@" "$work" "$corpus"
