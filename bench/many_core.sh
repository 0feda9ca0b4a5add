#!/usr/bin/env bash
# The many-core bars of this machine (2 cores), measured in one run and printed
# as a table of ratios with pass/fail:
#   mnist:  one GMT and one FGMT transfer of the paper's MNIST MLP (W = 4096, T = 10),
#           1 vs 2 threads (bars 1.6× and 1.5×);
#   many:   8 MNIST GMT targets: one 2-thread many-target process vs one 1-thread one
#           (bar 1.9×), and vs the same 8 targets as single-target 1-thread processes
#           run 2 at a time, what a user can do without --targets (bar 1.15×); the
#           targets' results are checked byte-identical between the two;
#   resnet: one ResNet-20 ×0.5 GMT transfer, 1 vs 2 threads (bar 1.8× at T = 30; the
#           default RESNET_STEPS=15 does a quarter of T = 30's gradient pairs, and
#           the 1-thread run of T = 30 alone takes about 7 minutes);
#   conv8:  Conv8 ×0.25 GMT and FGMT (T = 30, 2 gradient batches) on 2 threads
#           (bars 58 s and 23 s, peak RSS 1.5 GB);
#   memory: ResNet-20 ×1 GMT peak RSS on 1 and 2 threads (bars 3 GB at 2 threads, and
#           at most 1.2× the 1-thread peak; WORKERS1=1 adds 2 threads with --workers 1).
#           The bar is for T = 30; the peak is reached in the first steps (both
#           workspaces exist after step 2) and later steps add only their cached
#           point, batch and source gradient (about 4 MB each), so the default
#           MEM_STEPS=6 measures it in a fifth of the time (MEM_STEPS=30 for the bar
#           as stated: about 20 minutes more).
# Timings are the best of REPS runs (mnist, many; default 2) or LONG_REPS runs
# (resnet, conv8; default 1), 1- and 2-thread runs alternating. Peak RSS is
# /usr/bin/time's maximum resident set of the process.
#
#   bash bench/many_core.sh                          # inputs from /work/perfdata
#   DATA=DIR REPS=3 LONG_REPS=2 bash bench/many_core.sh
#   PARTS="mnist many" bash bench/many_core.sh
#
# DATA holds the inputs (bench/many_core_inputs.sh makes them):
#   mlp-101, mlp-102  MNIST MLP trajectories (train --model mlp --width 4096 --epochs 10
#                     --seed 101 / 102): source, and the target's initialisation;
#   r05/1, r05/2      ResNet-20 ×0.5 CIFAR-10 trajectories (source, target);
#   r1/1, r1/2        ResNet-20 ×1 CIFAR-10 trajectories;
#   c8/1, c8/2        Conv8 ×0.25 CIFAR-10 trajectories.
# SRC, TGT, R05, R1, C8 override single inputs; CIFAR is the CIFAR-10 data
# (default: the source manifest's). Writes log.txt and table.md to $OUT; about
# 10 minutes on a quiet 2-core machine with the defaults and WORKERS1=1 (9 min 49 s measured).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/work/perfdata}
SRC=${SRC:-$DATA/mlp-101}
TGT=${TGT:-$DATA/mlp-102/ckpt-0000.safetensors}
R05=${R05:-$DATA/r05}
R1=${R1:-$DATA/r1}
C8=${C8:-$DATA/c8}
OUT=${OUT:-/tmp/ltransfer-many-core}
PARTS=${PARTS:-"mnist many resnet conv8 memory"}
REPS=${REPS:-2}
LONG_REPS=${LONG_REPS:-1}
MEM_STEPS=${MEM_STEPS:-6}
RESNET_STEPS=${RESNET_STEPS:-15}
mkdir -p "$OUT"
LT=${LT:-}
if [ -z "$LT" ]; then
	go build -o "$OUT/ltransfer" ./cmd/ltransfer
	LT="$OUT/ltransfer"
fi
dataflag=()
[ -n "${CIFAR:-}" ] && dataflag=(--data "$CIFAR")
log="$OUT/log.txt"
table="$OUT/table.md"
: >>"$log"
: >"$table"
say() { echo "$*" | tee -a "$log" >&2; }
need() { # need PATH…: every input exists, or the part is skipped
	for p in "$@"; do
		if [ ! -e "$p" ]; then
			say "skipping $part: $p is missing (see the header of $0)"
			return 1
		fi
	done
}
# run NAME CMD…: runs CMD under /usr/bin/time (output to the log), prints
# "seconds peak_rss_mb"; a failed command stops the script.
run() {
	local name=$1
	shift
	echo "-- $name: $*" >>"$log"
	if ! /usr/bin/time -f "%e %M" -o "$OUT/time" "$@" >>"$log" 2>&1; then
		say "$name failed: $*  (see $log)"
		exit 1
	fi
	awk '{printf "%s %.0f\n", $1, $2/1024}' "$OUT/time"
}
best() { printf '%s\n' "$@" | sort -g | head -1; }
maxof() { printf '%s\n' "$@" | sort -g | tail -1; }
# bar NAME VALUE OP LIMIT UNIT DETAIL: one row of the table (OP is >= or <=)
bar() {
	local ok
	ok=$(python3 -c "print('pass' if $2 $3 $4 else 'FAIL')")
	printf '| %s | %s%s | %s %s%s | %s | %s |\n' "$1" "$2" "$5" "$3" "$4" "$5" "$ok" "$6" | tee -a "$table" >&2
}
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
phases() { python3 -c "import json; d=json.load(open('$1'))['timings_s']; print(', '.join(f'{k} {v:.1f}' for k, v in d.items()))"; }

say "== $(date -u) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg), REPS $REPS, LONG_REPS $LONG_REPS"
{
	echo "| bar | measured | target | result | detail |"
	echo "|---|---|---|---|---|"
} | tee -a "$table" >&2
start=$(date +%s)

for part in $PARTS; do
	case $part in
	mnist)
		need "$SRC/manifest.json" "$TGT" || continue
		for m in gmt fgmt; do
			a=() b=()
			for r in $(seq "$REPS"); do
				a+=("$(run "mnist $m 1 thread" "$LT" transfer --source "$SRC" --target-init "$TGT" --method $m --threads 1 --out "$OUT/x" --force | cut -d' ' -f1)")
				b+=("$(run "mnist $m 2 threads" "$LT" transfer --source "$SRC" --target-init "$TGT" --method $m --threads 2 --out "$OUT/x" --force | cut -d' ' -f1)")
			done
			s1=$(best "${a[@]}") s2=$(best "${b[@]}")
			limit=1.6
			[ $m = fgmt ] && limit=1.5
			bar "one MNIST $m transfer, 2 threads vs 1" "$(ratio "$s1" "$s2")" ">=" $limit "×" "1 thread ${s1} s, 2 threads ${s2} s (runs ${a[*]} / ${b[*]})"
		done
		;;
	many)
		need "$SRC/manifest.json" || continue
		a=() b=() c=()
		for r in $(seq "$REPS"); do
			rm -rf "$OUT/m1" "$OUT/m2" "$OUT/single"
			a+=("$(run "8 targets 1 thread" "$LT" transfer --source "$SRC" --targets 8 --target-seed 500 --method gmt --threads 1 --out "$OUT/m1" | cut -d' ' -f1)")
			b+=("$(run "8 targets 2 threads" "$LT" transfer --source "$SRC" --targets 8 --target-seed 500 --method gmt --threads 2 --out "$OUT/m2" | cut -d' ' -f1)")
			# The same 8 targets as single-target 1-thread processes, 2 at a time.
			mkdir -p "$OUT/single"
			c+=("$(run "8 single-target processes" bash -c "ls -d '$OUT'/m2/target-* | xargs -P 2 -I{} sh -c '\"$LT\" transfer --source \"$SRC\" --target-init {}/ckpt-0000.safetensors --method gmt --threads 1 --out \"$OUT/single/\$(basename {})\" >/dev/null 2>&1'" | cut -d' ' -f1)")
		done
		same=yes
		for d in "$OUT"/m2/target-*; do
			k=$(basename "$d")
			last=$(cd "$d" && ls ckpt-*.safetensors | tail -1)
			for f in perms.json best.safetensors "$last"; do
				cmp -s "$d/$f" "$OUT/single/$k/$f" && cmp -s "$d/$f" "$OUT/m1/$k/$f" || {
					same=no
					say "many: $k/$f differs between the 1-thread, 2-thread and single-target runs"
				}
			done
		done
		s1=$(best "${a[@]}") s2=$(best "${b[@]}") s3=$(best "${c[@]}")
		bar "8 MNIST GMT targets, --targets 8 on 2 threads vs 1" "$(ratio "$s1" "$s2")" ">=" 1.9 "×" "1 thread ${s1} s, 2 threads ${s2} s (runs ${a[*]} / ${b[*]})"
		bar "8 MNIST GMT targets, --targets 8 on 2 threads vs 8 one-thread processes 2 at a time" "$(ratio "$s3" "$s2")" ">=" 1.15 "×" "processes ${s3} s (runs ${c[*]}); results identical: $same"
		;;
	resnet)
		need "$R05/1/manifest.json" "$R05/2/ckpt-0000.safetensors" || continue
		a=() b=()
		for r in $(seq "$LONG_REPS"); do
			a+=("$(run "resnet20 x0.5 1 thread" "$LT" transfer --source "$R05/1" --target-init "$R05/2/ckpt-0000.safetensors" --method gmt --steps "$RESNET_STEPS" --threads 1 "${dataflag[@]}" --out "$OUT/r05" --force | cut -d' ' -f1)")
			b+=("$(run "resnet20 x0.5 2 threads" "$LT" transfer --source "$R05/1" --target-init "$R05/2/ckpt-0000.safetensors" --method gmt --steps "$RESNET_STEPS" --threads 2 "${dataflag[@]}" --out "$OUT/r05" --force | cut -d' ' -f1)")
		done
		s1=$(best "${a[@]}") s2=$(best "${b[@]}")
		bar "one ResNet-20 ×0.5 GMT transfer (T=$RESNET_STEPS), 2 threads vs 1" "$(ratio "$s1" "$s2")" ">=" 1.8 "×" "1 thread ${s1} s, 2 threads ${s2} s; 2-thread phases: $(phases "$OUT/r05/report.json")"
		;;
	conv8)
		need "$C8/1/manifest.json" "$C8/2/ckpt-0000.safetensors" || continue
		for m in gmt fgmt; do
			a=() k=()
			for r in $(seq "$LONG_REPS"); do
				read -r s mb < <(run "conv8 $m" "$LT" transfer --source "$C8/1" --target-init "$C8/2/ckpt-0000.safetensors" --method $m --steps 30 --gm-batches 2 \
					--threads 2 "${dataflag[@]}" --out "$OUT/c8-$m" --force)
				a+=("$s") k+=("$mb")
			done
			limit=58
			[ $m = fgmt ] && limit=23
			bar "Conv8 ×0.25 $m (T=30, 2 gradient batches), 2 threads" "$(best "${a[@]}")" "<=" $limit " s" "runs ${a[*]}; phases: $(phases "$OUT/c8-$m/report.json")"
			bar "Conv8 ×0.25 $m peak RSS" "$(maxof "${k[@]}")" "<=" 1536 " MB" "runs ${k[*]}"
		done
		;;
	memory)
		need "$R1/1/manifest.json" "$R1/2/ckpt-0000.safetensors" || continue
		read -r s1 k1 < <(run "resnet20 x1 1 thread" "$LT" transfer --source "$R1/1" --target-init "$R1/2/ckpt-0000.safetensors" --method gmt --steps "$MEM_STEPS" --threads 1 "${dataflag[@]}" --out "$OUT/r1" --force)
		read -r s2 k2 < <(run "resnet20 x1 2 threads" "$LT" transfer --source "$R1/1" --target-init "$R1/2/ckpt-0000.safetensors" --method gmt --steps "$MEM_STEPS" --threads 2 "${dataflag[@]}" --out "$OUT/r1" --force)
		bar "ResNet-20 ×1 GMT (T=$MEM_STEPS) peak RSS, 2 threads" "$k2" "<=" 3072 " MB" "1 thread $k1 MB; times: 1 thread $s1 s, 2 threads $s2 s"
		bar "ResNet-20 ×1 GMT (T=$MEM_STEPS) peak RSS, 2 threads vs 1" "$(ratio "$k2" "$k1")" "<=" 1.2 "×" ""
		if [ "${WORKERS1:-0}" = 1 ]; then
			read -r s3 k3 < <(run "resnet20 x1 2 threads --workers 1" "$LT" transfer --source "$R1/1" --target-init "$R1/2/ckpt-0000.safetensors" --method gmt --steps "$MEM_STEPS" --threads 2 --workers 1 "${dataflag[@]}" --out "$OUT/r1" --force)
			bar "ResNet-20 ×1 GMT (T=$MEM_STEPS) peak RSS, 2 threads --workers 1 vs 1 thread" "$(ratio "$k3" "$k1")" "<=" 1.2 "×" "$k3 MB, $s3 s"
		fi
		;;
	*)
		echo "unknown part $part" >&2
		exit 2
		;;
	esac
done
say "== $(($(date +%s) - start)) s; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$table"
