#!/usr/bin/env bash
# The measurements only a 16-core machine can make (read scaling, the
# 64-writer commit goal with cores to spare, the commit-latency tail), as
# one prepared run for a lent machine that has no Go toolchain: build the
# static binaries here, carry them, run them there.
#
#   bench/scripts/sixteen.sh build   # here: .sixteen/ (ignored by git), about 20 MB
#   bash bench/scripts/sixteen.sh run   # there, with .sixteen carried; results under $OUT
#
# The run takes at most 8.5 minutes on 16 cores (each step is cut off by a
# timeout so that what ran comes back): the goal table of the scaling,
# read and commit goals as JSON (medians of 3 rounds of 2 s; the tail in
# 3 rounds of 2 s rather than one of 30 s, to fit), BenchmarkScaling at
# 1, 2, 4, 8 and 16 cores, and the commit and scan benchmarks. Nothing
# here is part of CI. SIXTEEN_QUICK=1 runs every step briefly, to try
# the script on any machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=.sixteen

case "${1:-}" in
build)
	mkdir -p "$dir"
	flags=(-trimpath -ldflags '-s -w')
	CGO_ENABLED=0 go build "${flags[@]}" -o "$dir/mvkv-bench" ./bench/cmd/mvkv-bench
	CGO_ENABLED=0 go test -c "${flags[@]}" -o "$dir/mvcc.test" ./mvcc
	gzip -f "$dir/mvkv-bench" "$dir/mvcc.test"
	git rev-parse HEAD >"$dir/commit"
	du -sh "$dir"
	;;
run)
	out=${OUT:-$PWD/sixteen-out}
	mkdir -p "$out"
	gunzip -kf "$dir"/*.gz
	chmod +x "$dir/mvkv-bench" "$dir/mvcc.test"
	work=$(mktemp -d)
	{
		echo "commit $(cat "$dir/commit")"
		date -u
		nproc
		grep -m1 'model name' /proc/cpuinfo || true
		free -g | head -2
		df -h "$work" | tail -1
	} >"$out/machine.txt" 2>&1
	log=$out/log.txt
	rounds=(-rounds 3 -duration 2s) benchtime=1s
	if [[ -n "${SIXTEEN_QUICK:-}" ]]; then
		rounds=(-rounds 1 -duration 100ms -goal-keys 2000) benchtime=20ms
	fi
	step() { # name timeout command...
		local name=$1 limit=$2
		shift 2
		echo "== $name ($(date -u +%T))" >>"$log"
		timeout "$limit" "$@" || echo "== $name ended with $?" >>"$log"
	}
	step goals 300 "$dir/mvkv-bench" -goals -goal scaling,reads,commits "${rounds[@]}" \
		-dir "$work" -quiet -json >"$out/goals.json" 2>>"$log"
	(cd "$work" && step scaling-bench 120 "$OLDPWD/$dir/mvcc.test" -test.run '^$' -test.bench 'Scaling' \
		-test.cpu 1,2,4,8,16 -test.benchtime "$benchtime" >"$out/bench.txt" 2>>"$log")
	(cd "$work" && step commit-scan-bench 90 "$OLDPWD/$dir/mvcc.test" -test.run '^$' \
		-test.bench 'CommitDurable/writers=64|CommitTail|ScanParts/vacuumed' -test.benchtime "$benchtime" \
		-test.cpu 16 >>"$out/bench.txt" 2>>"$log")
	echo "== done ($(date -u +%T))" >>"$log"
	rm -rf "$work"
	;;
*)
	echo "usage: $0 build|run" >&2
	exit 2
	;;
esac
