# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0-or-later OR Apache-2.0
# Timing helpers for the benchmarks that compare a tool with a baseline run
# side by side; source this file. Needs RUNS (runs per figure) and WORKDIR.
#
#   run_stats OUTVAR CMD...   "median_s min_s max_s median_peak_kb" of CMD
#   row NAME OURS [BASELINE]  a table row: times, memory and their ratios

# run_stats OUTVAR CMD...: runs CMD $RUNS times, sets OUTVAR to
# "median_s min_s max_s median_peak_kb"
run_stats()
{
	local var="$1" i t
	shift
	local times=() mems=()
	for ((i = 0; i < RUNS; i++)); do
		/usr/bin/time -o "$WORKDIR/time.txt" -f '%e %M' "$@" >/dev/null 2>&1 || true
		t=$(tail -n1 "$WORKDIR/time.txt")
		times+=("${t% *}")
		mems+=("${t#* }")
	done
	printf -v "$var" '%s' "$(python3 - "${times[*]}" "${mems[*]}" <<'EOF'
import statistics, sys
t = [float(x) for x in sys.argv[1].split()]
m = [int(x) for x in sys.argv[2].split()]
print(f"{statistics.median(t):.3f} {min(t):.3f} {max(t):.3f} {int(statistics.median(m))}")
EOF
)"
}

row()
{
	# name ours baseline
	local name="$1" o="$2" b="${3:-}"
	read -r om omin omax omem <<<"$o"
	if [ -n "$b" ]; then
		read -r bm bmin bmax bmem <<<"$b"
		printf '| %-34s | %7s s (%s-%s) | %7s s (%s-%s) | %5.2fx | %7s KB | %7s KB | %5.2fx |\n' \
			"$name" "$om" "$omin" "$omax" "$bm" "$bmin" "$bmax" \
			"$(python3 -c "print($om/$bm if $bm else 0)")" "$omem" "$bmem" \
			"$(python3 -c "print($omem/$bmem if $bmem else 0)")"
	else
		printf '| %-34s | %7s s (%s-%s) | %s | | %7s KB | | |\n' "$name" "$om" "$omin" "$omax" "-" "$omem"
	fi
}

