#!/usr/bin/env bash
# The many-core bars on this machine, as ratios measured in one run:
#   mnist:  one GMT and one FGMT transfer of the paper's MNIST MLP, 1 vs 2 threads;
#   many:   8 MNIST GMT targets: one 2-thread many-target process vs one 1-thread
#           one, and vs 8 single-target 1-thread processes run 2 at a time (what a
#           user can do without --targets);
#   resnet: one ResNet-20 ×0.5 GMT transfer (T = 30), 1 vs 2 threads;
#   conv8:  Conv8 ×0.25 GMT (T = 30, 2 gradient batches) and FGMT on 2 threads;
#   memory: ResNet-20 ×1 GMT (T = 30) peak RSS on 1 thread, 2 threads, and
#           2 threads with --workers 1.
# Each timing is the best of REPS runs (default 2), the variants alternating.
#
#   SRC=… TGT=… R05=… R1=… C8=… bash bench/many_core.sh
#   PARTS="mnist many" bash bench/many_core.sh
#
# SRC/TGT: MNIST MLP trajectories (ltransfer train --model mlp --width 4096 --seed 101/102);
# R05, R1: folders holding ResNet-20 ×0.5 / ×1 trajectories 1 and 2 (R05/1, R05/2);
# C8: the same for Conv8 ×0.25. Writes log.txt to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/ltransfer-many-core}
PARTS=${PARTS:-"mnist many resnet conv8 memory"}
REPS=${REPS:-2}
mkdir -p "$OUT"
LT=${LT:-}
if [ -z "$LT" ]; then
	go build -o "$OUT/ltransfer" ./cmd/ltransfer
	LT="$OUT/ltransfer"
fi
log="$OUT/log.txt"
: >>"$log"
say() { echo "$*" | tee -a "$log"; }
# t CMD…: wall seconds of CMD (its output to the log)
t() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >>"$log" 2>&1
	t1=$(date +%s.%N)
	python3 -c "print(f'{$t1 - $t0:.2f}')"
}
best() { printf '%s\n' "$@" | sort -g | head -1; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
say "== $(date -u) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $($LT version 2>/dev/null | head -1)"

for part in $PARTS; do
	case $part in
	mnist)
		for m in gmt fgmt; do
			a=() b=()
			for r in $(seq "$REPS"); do
				a+=("$(t "$LT" transfer --source "$SRC" --target-init "$TGT" --method $m --threads 1 --out "$OUT/x" --force)")
				b+=("$(t "$LT" transfer --source "$SRC" --target-init "$TGT" --method $m --threads 2 --out "$OUT/x" --force)")
			done
			s1=$(best "${a[@]}") s2=$(best "${b[@]}")
			say "mnist $m: 1 thread ${s1} s, 2 threads ${s2} s: $(ratio "$s1" "$s2")× (runs: ${a[*]} / ${b[*]})"
		done
		;;
	many)
		a=() b=() c=()
		for r in $(seq "$REPS"); do
			rm -rf "$OUT/m1" "$OUT/m2"
			a+=("$(t "$LT" transfer --source "$SRC" --targets 8 --target-seed 500 --method gmt --threads 1 --out "$OUT/m1")")
			b+=("$(t "$LT" transfer --source "$SRC" --targets 8 --target-seed 500 --method gmt --threads 2 --out "$OUT/m2")")
			# The same 8 targets as single-target 1-thread processes, 2 at a time.
			rm -rf "$OUT/single"
			mkdir -p "$OUT/single"
			c+=("$(t bash -c "ls -d '$OUT'/m2/target-* | xargs -P 2 -I{} sh -c '\"$LT\" transfer --source \"$SRC\" --target-init {}/ckpt-0000.safetensors --method gmt --threads 1 --out \"$OUT/single/\$(basename {})\"'")")
		done
		for k in 0 3 7; do
			cmp "$OUT/m2/target-00$k/perms.json" "$OUT/single/target-00$k/perms.json" >/dev/null &&
				cmp "$OUT/m2/target-00$k/best.safetensors" "$OUT/single/target-00$k/best.safetensors" >/dev/null ||
				say "many: target-00$k differs between the many-target run and its single-target run"
		done
		s1=$(best "${a[@]}") s2=$(best "${b[@]}") s3=$(best "${c[@]}")
		say "many (8 MNIST GMT targets): 1 thread ${s1} s, 2 threads ${s2} s ($(ratio "$s1" "$s2")×), 8 single-target processes 2 at a time ${s3} s ($(ratio "$s3" "$s2")× slower than --targets 8 --threads 2) (runs: ${a[*]} / ${b[*]} / ${c[*]})"
		;;
	resnet)
		a=() b=()
		for r in $(seq "$REPS"); do
			a+=("$(t "$LT" transfer --source "$R05/1" --target-init "$R05/2" --method gmt --steps 30 --threads 1 --out "$OUT/x" --force)")
			b+=("$(t "$LT" transfer --source "$R05/1" --target-init "$R05/2" --method gmt --steps 30 --threads 2 --out "$OUT/x" --force)")
		done
		s1=$(best "${a[@]}") s2=$(best "${b[@]}")
		say "resnet20 x0.5 gmt T=30: 1 thread ${s1} s, 2 threads ${s2} s: $(ratio "$s1" "$s2")× (runs: ${a[*]} / ${b[*]})"
		;;
	conv8)
		for m in gmt fgmt; do
			/usr/bin/time -f "%e %M" -o "$OUT/time" "$LT" transfer --source "$C8/1" --target-init "$C8/2" --method $m --steps 30 --gm-batches 2 \
				--threads 2 --out "$OUT/c8-$m" --force >>"$log" 2>&1
			read -r s k <"$OUT/time"
			say "conv8 x0.25 $m T=30, 2 gradient batches, 2 threads: $s s, peak RSS $((k / 1024)) MB; phases: $(python3 -c "import json; d=json.load(open('$OUT/c8-$m/report.json'))['timings_s']; print(', '.join(f'{k} {v:.1f}' for k, v in d.items()))")"
		done
		;;
	memory)
		for cfg in "1 0" "2 0" "2 1"; do
			set -- $cfg
			/usr/bin/time -f "%e %M" -o "$OUT/time" "$LT" transfer --source "$R1/1" --target-init "$R1/2" --method gmt --steps 30 \
				--threads "$1" --workers "$2" --out "$OUT/r1" --force >>"$log" 2>&1
			read -r s k <"$OUT/time"
			say "resnet20 x1 gmt T=30, $1 threads, --workers $2: $s s, peak RSS $((k / 1024)) MB"
		done
		;;
	*) echo "unknown part $part" >&2; exit 2 ;;
	esac
done
say "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
