#!/bin/sh
# Model-checks a spin model of hyp/model (ownership.pml, or the table check transitions.py
# generates) with the rules it includes: generate the verifier, compile it, search the whole
# state space. "pass" wants a complete search without errors; "fail" (for a mutant built with
# -D...) wants an assertion violation, so the model is known to catch that mistake.
# Usage: run-spin.sh SPIN CC MODEL pass|fail [-DDEFINE...]
set -u
spin=$1
cc=$2
model=$3
expect=$4
shift 4

here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$here"/*.pml "$dir/"
cp "$model" "$dir/model.pml"
cd "$dir" || exit 1

"$spin" "$@" -a model.pml >spin.log 2>&1 || { cat spin.log; exit 1; }
# Optimising pan.c takes longer than a short search (a mutant, the table): PAN_OPT=0 there.
"$cc" -O"${PAN_OPT:-2}" -w -DSAFETY -DCOLLAPSE -DMEMLIM=2048 -o pan pan.c || exit 1
./pan -m1000000 >pan.log 2>&1
cat pan.log

errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' pan.log)
if [ -z "$errors" ]; then
	echo "# FAIL: no result from pan"
	exit 1
fi
case $expect in
pass)
	if [ "$errors" -ne 0 ]; then
		# The table check prints the row it is on: name the one that failed.
		"$spin" "$@" -t model.pml 2>&1 | grep -E '^ *row [0-9]+:' | tail -2
		echo "# FAIL: $errors errors"
		exit 1
	fi
	if grep -q -e "max search depth too small" -e "out of memory" -e "memory limit" pan.log; then
		echo "# FAIL: search incomplete"
		exit 1
	fi
	echo "# PASS: state space searched, no violation"
	;;
fail)
	if [ "$errors" -eq 0 ] || ! grep -q "assertion violated" pan.log; then
		echo "# FAIL: mutant $* not caught"
		exit 1
	fi
	echo "# PASS: mutant $* caught"
	;;
*)
	echo "usage: run-spin.sh SPIN CC MODEL pass|fail [-DDEFINE...]" >&2
	exit 2
	;;
esac
