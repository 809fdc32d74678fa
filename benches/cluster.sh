#!/bin/bash
# Cluster benchmark (BENCHMARKS.md "Cluster"): every shard of a job in turn,
# then the merge, under /usr/bin/time; prints the shards' total, the slowest
# shard, peak RSS per shard, the units' size and the merge's time and RSS.
# Not run in CI. Usage: CHLOE=target/release/chloe benches/cluster.sh DIR JOB.toml "1 4 16"
set -u
B=${CHLOE:-target/release/chloe}
dir=$1 job=$2 ns=${3:-"1 4 16"}
mkdir -p "$dir"
for n in $ns; do
  out=$dir/n$n; rm -rf "$out"; sum=0; maxrss=0; maxs=0
  for i in $(seq 0 $((n-1))); do
    /usr/bin/time -f "%e %M" -o "$dir/.t" "$B" run "$job" --out "$out" --backend cpu --shard "$i/$n" > /dev/null 2> "$dir/.err" \
      || { echo "shard $i/$n failed"; tail -3 "$dir/.err"; exit 1; }
    read -r s m < "$dir/.t"; sum=$(echo "$sum + $s" | bc)
    [ "$m" -gt "$maxrss" ] && maxrss=$m
    [ "$(echo "$s > $maxs" | bc)" = 1 ] && maxs=$s
  done
  /usr/bin/time -f "%e %M" -o "$dir/.t" "$B" merge "$out" > /dev/null 2> "$dir/.err" \
    || { echo "merge failed"; tail -3 "$dir/.err"; exit 1; }
  read -r ms mm < "$dir/.t"
  echo "N=$n: shards sum ${sum}s, slowest ${maxs}s, max shard RSS $((maxrss/1024)) MB;" \
    "units on disk $(du -sm "$out/shards" | cut -f1) MB; merge ${ms}s, RSS $((mm/1024)) MB"
done
