#!/usr/bin/env python3
"""batch_report: summarises bench/batch_e2e.sh's TSVs (median and min-max
per engine, storage and batch size) as a Markdown table on stdout, and
draws ops/s against batch size with gnuplot into the given PNG, one line
per engine and storage (in memory, --data_dir).

Usage: bench/batch_report.py PNG_PATH RESULTS_DIR [RESULTS_DIR ...]
"""

import os
import statistics
import subprocess
import sys


def main():
    png, result_dirs = sys.argv[1], sys.argv[2:]
    rows = {}
    for results in result_dirs:
        with open(os.path.join(results, "batch_e2e.tsv")) as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                row = dict(zip(header, line.rstrip("\n").split("\t")))
                series = row["engine"]
                if row.get("durable", "0") not in ("0", ""):
                    series += " --data_dir"
                rows.setdefault((series, int(row["batch"])), []).append(row)
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
    series_all = sorted({series for cells in dat.values() for series in cells})
    path = os.path.join(result_dirs[0], "batch_e2e.dat")
    with open(path, "w") as f:
        f.write("# batch, then median min max per series: " +
                ", ".join(series_all) + "\n")
        for batch in sorted(dat):
            cells = []
            for series in series_all:
                cells += ["?"] * 3 if series not in dat[batch] else [
                    f"{v:.6g}" for v in dat[batch][series]]
            f.write(f"{batch} " + " ".join(cells) + "\n")
    ids = {r.get("request_ids", "true") for runs in rows.values() for r in runs}
    ids_text = {"false": "no request ids", "true": "request ids on"}.get(
        "".join(sorted(ids)), "request ids mixed")
    plots = [f"'{path}' using 1:{2 + 3 * i}:{3 + 3 * i}:{4 + 3 * i} "
             f"with yerrorlines title '{series}'"
             for i, series in enumerate(series_all)]
    plots.append("1000000 with lines dashtype 2 title 'target 1,000,000'")
    plots.append("500000 with lines dashtype 3 title 'target 500,000 "
                 "(--data_dir)'")
    script = f"""
set terminal pngcairo size 960,440 noenhanced
set output '{png}'
set title 'ApplyBatch end to end, 10,000 accounts, {ids_text} (median, min-max)'
set logscale xy
set xlabel 'operations per RPC'
set ylabel 'operations per second'
set key outside right top
set grid
plot {", ".join(plots)}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


if __name__ == "__main__":
    main()
