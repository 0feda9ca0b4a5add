#!/usr/bin/env bash
# Thread scaling of ltransfer on this machine: one prepared script, at most
# about 8 minutes on 16 cores. For 1, 2, 4, 8, … threads up to the core count (and
# the core count itself) it prints the speed-up over one thread of
#   - GEMM 2048³ (ltransfer bench gemm),
#   - one Conv8 ×1 training step, batch 128 (ltransfer bench step),
#   - one GMT transfer of the paper's MNIST MLP (W = 4096, T = 10),
#   - one GMT transfer of Conv8 ×0.25 on CIFAR-10 (T = 10, 2 gradient batches),
#   - the throughput of a many-target GMT transfer (MNIST, N = 2 × cores targets),
# and the peak RSS of the MNIST transfer at each thread count.
#
#   bash bench/scaling.sh                    # builds ./ltransfer, trains what it needs
#   LT=/path/ltransfer MNIST=DIR CIFAR=FILE OUT=DIR bash bench/scaling.sh
#
# MNIST: a folder with the four idx .gz files (default: the GoMNIST module's);
# CIFAR: the CIFAR-10 JPEG tar or binary folder (default ../shared/data/cifar10-jpeg.tar;
# the Conv8 rows are skipped when it is absent). DATA: a folder of trained inputs
# (bench/many_core_inputs.sh: mlp-101, mlp-102, c8/1, c8/2) used instead of training
# them here. Writes log.txt and table.md to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/ltransfer-scaling}
mkdir -p "$OUT"
LT=${LT:-}
if [ -z "$LT" ]; then
	go build -o "$OUT/ltransfer" ./cmd/ltransfer
	LT="$OUT/ltransfer"
fi
if [ -z "${MNIST:-}" ]; then
	MNIST=$(ls -d "$(go env GOMODCACHE)"/github.com/petar/\!go\!m\!n\!i\!s\!t@*/data 2>/dev/null | head -1)
fi
CIFAR=${CIFAR:-../shared/data/cifar10-jpeg.tar}
cores=$(nproc)
# Powers of two up to the core count, and the core count itself when it is not one.
if [ -z "${THREADS:-}" ]; then
	THREADS=""
	for t in 1 2 4 8 16 32 64 128; do
		if [ "$t" -le "$cores" ]; then THREADS="$THREADS $t"; fi
	done
	case " $THREADS " in *" $cores "*) ;; *) THREADS="$THREADS $cores" ;; esac
	THREADS=${THREADS# }
fi
log="$OUT/log.txt"
: >"$log"
say() { echo "$*" | tee -a "$log"; }
say "$(date -u) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), threads: $THREADS, load: $(cut -d' ' -f1-3 /proc/loadavg)"

W=$OUT/work
mkdir -p "$W"
if [ -n "${DATA:-}" ]; then
	for p in mlp:mlp-101 mlp-t:mlp-102 c8-201:c8/1 c8-202:c8/2; do
		if [ -f "$DATA/${p#*:}/manifest.json" ] && [ ! -e "$W/${p%%:*}" ]; then
			ln -s "$(cd "$DATA/${p#*:}" && pwd)" "$W/${p%%:*}"
		fi
	done
fi
# Networks: the MNIST MLP trained for 1 epoch (the transfer's cost does not
# depend on how well it is trained), Conv8 ×0.25 for 1 epoch on 5,000 images.
[ -f "$W/mlp/manifest.json" ] || "$LT" train --model mlp --width 4096 --epochs 1 --seed 101 --data "$MNIST" --no-test --out "$W/mlp" >>"$log" 2>&1
[ -f "$W/mlp-t/manifest.json" ] || "$LT" train --model mlp --width 4096 --epochs 1 --seed 102 --data "$MNIST" --no-test --out "$W/mlp-t" >>"$log" 2>&1
have_cifar=0
if [ -e "$CIFAR" ]; then
	have_cifar=1
	for s in 201 202; do
		[ -f "$W/c8-$s/manifest.json" ] || "$LT" train --model conv8 --width-factor 0.25 --dataset cifar10 --data "$CIFAR" --epochs 1 \
			--limit 5000 --lr 0.05 --seed $s --no-test --out "$W/c8-$s" >>"$log" 2>&1
	done
fi

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
secs() { # wall seconds of a command, its output to the log
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >>"$log" 2>&1
	t1=$(date +%s.%N)
	python3 -c "print(round($t1 - $t0, 2))"
}
rss_of() { # runs a command under /usr/bin/time; prints "seconds rss_mb"
	/usr/bin/time -f "%e %M" -o "$OUT/time" "$@" >>"$log" 2>&1
	awk '{printf "%s %.0f\n", $1, $2/1024}' "$OUT/time"
}

declare -A R
for t in $THREADS; do
	R[gemm,$t]=$("$LT" bench gemm --m 2048 --n 2048 --k 2048 --threads "$t" --json | json '["gflops"]')
	R[step,$t]=$("$LT" bench step --model conv8 --width-factor 1 --batch 128 --threads "$t" --reps 3 --json | json '["images_per_s"]')
	read -r s m < <(rss_of "$LT" transfer --source "$W/mlp" --target-init "$W/mlp-t" --method gmt --steps 10 --threads "$t" \
		--data "$MNIST" --out "$W/x-mlp-$t" --force)
	R[mlp,$t]=$s R[rss,$t]=$m
	if [ $have_cifar = 1 ]; then
		R[c8,$t]=$(secs "$LT" transfer --source "$W/c8-201" --target-init "$W/c8-202" --method gmt --steps 10 --gm-batches 2 \
			--threads "$t" --data "$CIFAR" --out "$W/x-c8-$t" --force)
	fi
	n=$((2 * cores))
	rm -rf "$W/many-$t"
	R[many,$t]=$(secs "$LT" transfer --source "$W/mlp" --targets "$n" --method gmt --steps 10 --threads "$t" --data "$MNIST" --out "$W/many-$t")
	say "threads $t: gemm ${R[gemm,$t]} GFLOP/s, conv8 step ${R[step,$t]} img/s, mnist gmt ${R[mlp,$t]} s (${R[rss,$t]} MB), conv8x0.25 gmt ${R[c8,$t]:--} s, $n targets ${R[many,$t]} s"
done

t1=${THREADS%% *}
{
	echo "| threads | GEMM 2048³ | Conv8 ×1 step | MNIST GMT | Conv8 ×0.25 GMT (T=10) | $((2 * cores))-target MNIST GMT throughput | MNIST GMT peak RSS |"
	echo "|---|---|---|---|---|---|---|"
	for t in $THREADS; do
		python3 - "$t" "${R[gemm,$t]}" "${R[gemm,$t1]}" "${R[step,$t]}" "${R[step,$t1]}" "${R[mlp,$t]}" "${R[mlp,$t1]}" \
			"${R[c8,$t]:-0}" "${R[c8,$t1]:-0}" "${R[many,$t]}" "${R[many,$t1]}" "${R[rss,$t]}" "${R[rss,$t1]}" <<'EOF'
import sys
t, g, g1, s, s1, m, m1, c, c1, n, n1, r, r1 = sys.argv[1:]
f = float
c8 = "–" if f(c) == 0 else f"{f(c):.1f} s ({f(c1)/f(c):.2f}×)"
print(f"| {t} | {f(g):.0f} GFLOP/s ({f(g)/f(g1):.2f}×) | {f(s):.0f} img/s ({f(s)/f(s1):.2f}×) | {f(m):.2f} s ({f(m1)/f(m):.2f}×) "
      f"| {c8} | {f(n):.1f} s ({f(n1)/f(n):.2f}×) | {f(r):.0f} MB ({f(r)/f(r1):.2f}× of 1 thread) |")
EOF
	done
} | tee "$OUT/table.md" | tee -a "$log"
say "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
