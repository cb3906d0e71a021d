#!/usr/bin/env python3
"""batch_report: summarises bench/batch_e2e.sh's TSV (median and min-max
per engine and batch size) as a Markdown table on stdout, and draws
ops/s against batch size with gnuplot into the given PNG.

Usage: bench/batch_report.py RESULTS_DIR PNG_PATH
"""

import os
import statistics
import subprocess
import sys


def main():
    results, png = sys.argv[1], sys.argv[2]
    rows = {}
    with open(os.path.join(results, "batch_e2e.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            rows.setdefault((row["engine"], int(row["batch"])), []).append(row)
    print("| engine | batch | concurrency | ops/s median (min-max) | "
          "RPCs/s median | server CPU us/op median (min-max) | invariant | "
          "load (1 min) |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    dat = {}
    for (engine, batch), runs in sorted(rows.items()):
        ops = [float(r["ops_per_s"]) for r in runs]
        rpcs = [float(r["rpcs_per_s"]) for r in runs]
        cpu = [float(r["server_cpu_us_per_op"]) for r in runs]
        verdicts = ",".join(sorted({r["invariant"] for r in runs}))
        loads = "-".join(sorted({r["load1"] for r in runs},
                                key=float)[::max(1, len(runs) - 1)])
        print(f"| {engine} | {batch:,} | {runs[0]['concurrency']} | "
              f"{statistics.median(ops):,.0f} ({min(ops):,.0f}-{max(ops):,.0f})"
              f" | {statistics.median(rpcs):,.0f} | "
              f"{statistics.median(cpu):.2f} ({min(cpu):.2f}-{max(cpu):.2f}) | "
              f"{verdicts} ({len(runs)} runs) | {loads} |")
        dat.setdefault(batch, {})[engine] = (
            statistics.median(ops), min(ops), max(ops))
    path = os.path.join(results, "batch_e2e.dat")
    with open(path, "w") as f:
        f.write("# batch mutex_med mutex_min mutex_max queue_med queue_min "
                "queue_max\n")
        for batch in sorted(dat):
            cells = []
            for engine in ("mutex", "queue"):
                cells += ["?"] * 3 if engine not in dat[batch] else [
                    f"{v:.6g}" for v in dat[batch][engine]]
            f.write(f"{batch} " + " ".join(cells) + "\n")
    script = f"""
set terminal pngcairo size 720,440 noenhanced
set output '{png}'
set title 'ApplyBatch end to end, 10,000 accounts (median, min-max)'
set logscale xy
set xlabel 'operations per RPC'
set ylabel 'operations per second'
set key top left
set grid
plot '{path}' using 1:2:3:4 with yerrorlines title 'mutex', \\
     '' using 1:5:6:7 with yerrorlines title 'queue', \\
     1000000 with lines dashtype 2 title 'target 1,000,000'
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


if __name__ == "__main__":
    main()
