#!/usr/bin/env python3
"""report.py: writes docs/BENCHMARKS.md and docs/bench/*.png from the raw
results bench/e2e.sh collected (standard library and gnuplot only).

Inputs, all in --results:
  machine.tsv          key<TAB>value lines describing the run
  engine_bench.json    Google Benchmark's JSON (median of repetitions)
  runs.tsv, runs/*.json  the sweep: one bank_loadgen JSON report per run plus
                       the server's CPU ticks over that run
  clients.tsv          bank_loadgen versus bench_closed_loop on the floor
  memory.tsv           bank_server RSS empty and with N open accounts
  metrics_overhead.tsv bench/metrics_overhead.sh's runs (with and without
                       --metrics_listen); metrics_bench.json its in-process
                       per-RPC cost
Every figure in the document comes from these files, so rerunning
bench/e2e.sh regenerates all of it.
"""

import argparse
import csv
import json
import os

import report_plots
import report_text

# Targets of issue 5, as named constants with their unit last.
QUEUE_ONE_PRODUCER_OPS_MIN = 5_000_000
E2E_RPS_RATIO_MIN = 0.9
E2E_CPU_RATIO_MAX = 1.1
ACCOUNT_BYTES_MAX = 150
TARGET_CONCURRENCY = 64


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def read_machine(results):
    machine = {}
    with open(os.path.join(results, "machine.tsv")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            machine[key] = value
    return machine


def parse_engine_bench(results, name="engine_bench.json"):
    """Answers {(engine, accounts, mix, threads): {ops, batch_mean}}."""
    path = os.path.join(results, name)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        data = json.load(f)
    rows = {}
    for bench in data["benchmarks"]:
        aggregate = bench.get("aggregate_name", "")
        if aggregate not in ("", "median"):
            continue
        parts = dict(part.split(":", 1) for part in
                     bench["run_name"].split("/") if ":" in part)
        key = (parts["engine"], parts["accounts"], parts["mix"],
               int(bench["threads"]))
        # Process CPU time per operation: steadier than wall time when the
        # machine is shared (time fields are per iteration, in time_unit).
        unit_ns = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[
            bench.get("time_unit", "ns")]
        ops_per_iteration = (bench["items_per_second"] * bench["real_time"] *
                             unit_ns / 1e9)
        rows[key] = {"ops": bench["items_per_second"],
                     "batch_mean": bench.get("batch_mean"),
                     "rejected": bench.get("rejected", 0),
                     "cpu_ns_per_op": bench["cpu_time"] * unit_ns /
                     max(ops_per_iteration, 1e-9)}
    return rows


def server_rpcs(report):
    """RPCs the server answered during one bank_loadgen run: the measured
    and warmup load, plus the setup (one reachability probe, one
    OpenAccount per account) and the read-back (a GetBalance per account per
    settle read)."""
    summary = report["summary"]
    accounts = report["config"]["accounts"]
    reads = max(1, report["invariant"].get("settle_reads", 1))
    return summary["count"] + summary["warmup_count"] + 1 + accounts * (
        1 + reads)


def parse_sweep(results, clk_tck, table="runs.tsv", prefix=""):
    """Answers a list of run dicts, one per (server, accounts, concurrency)."""
    runs = []
    if not os.path.exists(os.path.join(results, table)):
        return runs
    for row in read_tsv(os.path.join(results, table)):
        name = (f"{prefix}{row['server']}-{row['accounts']}-"
                f"{row['concurrency']}")
        path = os.path.join(results, "runs", name + ".json")
        run = {"server": row["server"], "accounts": int(row["accounts"]),
               "concurrency": int(row["concurrency"]),
               "exit": int(row["loadgen_exit"]), "ok": False}
        if os.path.exists(path):
            with open(path) as f:
                report = json.load(f)
            cpu_s = int(row["server_cpu_ticks"]) / clk_tck
            run.update(
                ok=True, rps=report["summary"]["rps"],
                errors=report["summary"]["errors"],
                p50=report["latency_ms"]["p50"],
                p99=report["latency_ms"]["p99"],
                p999=report["latency_ms"]["p999"],
                verdict=report["invariant"]["verdict"],
                loadgen_cpu_us=report["cpu"]["us_per_rpc"],
                server_cpu_us=cpu_s * 1e6 / server_rpcs(report))
        runs.append(run)
    return runs


def parse_clients(results, clk_tck):
    clients = []
    for row in read_tsv(os.path.join(results, "clients.tsv")):
        entry = {"client": row["client"],
                 "concurrency": int(row["concurrency"]), "ok": False}
        try:
            with open(row["file"]) as f:
                data = json.load(f)
        except (OSError, ValueError):
            clients.append(entry)
            continue
        if row["client"] == "loadgen":
            rps, cpu_us = data["summary"]["rps"], data["cpu"]["us_per_rpc"]
            rpcs = server_rpcs(data)
        else:
            rps, cpu_us, rpcs = data["rps"], data["cpu_us_per_rpc"], data["rpcs"]
        entry.update(ok=True, rps=rps, client_cpu_us=cpu_us,
                     server_cpu_us=int(row["server_cpu_ticks"]) / clk_tck *
                     1e6 / max(1, rpcs))
        clients.append(entry)
    return clients


def parse_metrics_overhead(results):
    """Answers {"runs": [{repetition, server, rps, load}], "bench": {name:
    cpu ns}} from metrics_overhead.tsv and metrics_bench.json (empty parts
    when missing)."""
    overhead = {"runs": [], "bench": {}}
    path = os.path.join(results, "metrics_overhead.tsv")
    if os.path.exists(path):
        for row in read_tsv(path):
            overhead["runs"].append({
                "repetition": int(row["repetition"]), "server": row["server"],
                "rps": float(row["rps"]), "load": row["load"]})
    path = os.path.join(results, "metrics_bench.json")
    if os.path.exists(path):
        with open(path) as f:
            for bench in json.load(f)["benchmarks"]:
                if bench.get("aggregate_name") == "median":
                    overhead["bench"][bench["run_name"]] = bench["cpu_time"]
    return overhead


def parse_memory(results):
    memory = []
    for row in read_tsv(os.path.join(results, "memory.tsv")):
        accounts = int(row["accounts"])
        empty, full = int(row["rss_empty_kib"]), int(row["rss_full_kib"])
        memory.append({"engine": row["engine"],
                       "detection": row["detection"], "accounts": accounts,
                       "empty_mib": empty / 1024, "full_mib": full / 1024,
                       "bytes_per_account": (full - empty) * 1024 / accounts,
                       "open_seconds": int(row["open_seconds"])})
    return memory


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", required=True)
    parser.add_argument("--docs", required=True)
    parser.add_argument("--minutes", default="?")
    parser.add_argument("--command", default="bench/e2e.sh")
    args = parser.parse_args()
    machine = read_machine(args.results)
    clk_tck = int(machine.get("clk_tck", "100"))
    data = {
        "machine": machine, "minutes": args.minutes, "command": args.command,
        "engine": parse_engine_bench(args.results),
        "engine_detection": parse_engine_bench(
            args.results, "engine_bench_detection.json"),
        "runs": parse_sweep(args.results, clk_tck),
        "clients": parse_clients(args.results, clk_tck),
        "memory": parse_memory(args.results),
        "metrics": parse_metrics_overhead(args.results),
        "limits": {"queue_ops_min": QUEUE_ONE_PRODUCER_OPS_MIN,
                   "rps_ratio_min": E2E_RPS_RATIO_MIN,
                   "cpu_ratio_max": E2E_CPU_RATIO_MAX,
                   "account_bytes_max": ACCOUNT_BYTES_MAX,
                   "concurrency": TARGET_CONCURRENCY},
    }
    plot_dir = os.path.join(args.docs, "bench")
    os.makedirs(plot_dir, exist_ok=True)
    report_plots.draw_all(data, os.path.join(args.results, "plot"), plot_dir)
    with open(os.path.join(args.docs, "BENCHMARKS.md"), "w") as f:
        f.write(report_text.render(data))


if __name__ == "__main__":
    main()
