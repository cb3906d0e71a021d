"""report_plots: the PNG plots of docs/BENCHMARKS.md, drawn by gnuplot.

Each panel's data goes to a whitespace-separated .dat file (x, then one
column per series, "?" where a value is missing) in the results directory,
and one generated gnuplot script per figure draws the panels side by side.
"""

import os
import subprocess

ENGINES = ["mutex", "queue", "unsafe"]
SERVERS = ["floor", "mutex", "queue", "unsafe"]
ACCOUNT_SETS = [("hot", 1, "one hot account"),
                ("10000", 10000, "10,000 accounts")]
MIXES = [("deposit_withdraw", "deposit/withdraw"), ("transfer", "transfer")]
PERCENTILES = [("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")]
PANEL_WIDTH_PX = 560
PANEL_HEIGHT_PX = 420


def write_dat(path, xs, series, value):
    """One row per x; value(name, x) answers a number or None."""
    with open(path, "w") as f:
        f.write("# x " + " ".join(series) + "\n")
        for x in xs:
            cells = [value(name, x) for name in series]
            f.write(f"{x} " + " ".join("?" if c is None else f"{c:.6g}"
                                       for c in cells) + "\n")


def panel(dat, title, xlabel, ylabel, series, logy=False):
    lines = [f'set title "{title}"', f'set xlabel "{xlabel}"',
             f'set ylabel "{ylabel}"',
             "set logscale y" if logy else "unset logscale y",
             "set yrange [*:*]" if logy else "set yrange [0:*]"]
    plots = [f'"{dat}" using 1:{i + 2} with linespoints title "{name}"'
             for i, name in enumerate(series)]
    return "\n".join(lines) + "\nplot " + ", \\\n     ".join(plots) + "\n"


def render(png, columns, rows, panels):
    script = "\n".join([
        f"set terminal pngcairo size {columns * PANEL_WIDTH_PX},"
        f"{rows * PANEL_HEIGHT_PX} font 'sans,10'",
        f'set output "{png}"', 'set datafile missing "?"',
        "set logscale x 2", "set grid", "set key top left",
        f"set multiplot layout {rows},{columns}",
    ] + panels + ["unset multiplot", ""])
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def draw_engine(data, dat_dir, png):
    panels = []
    for set_name, _, set_title in ACCOUNT_SETS:
        for mix, mix_title in MIXES:
            dat = os.path.join(dat_dir, f"engine-{set_name}-{mix}.dat")

            def ops(engine, threads):
                row = data["engine"].get((engine, set_name, mix, threads))
                return None if row is None else row["ops"] / 1e6
            write_dat(dat, [1, 2, 4, 8, 16], ENGINES, ops)
            panels.append(panel(dat, f"{mix_title}, {set_title}",
                                "producer threads", "million ops/s",
                                ENGINES))
    render(png, 2, 2, panels)


def run_value(data, server, accounts, concurrency, field):
    for run in data["runs"]:
        if (run["server"], run["accounts"], run["concurrency"]) == (
                server, accounts, concurrency) and run["ok"]:
            return run[field]
    return None


def draw_e2e(data, dat_dir, png, field, ylabel, scale=1.0, logy=False):
    panels = []
    for set_name, accounts, set_title in ACCOUNT_SETS:
        dat = os.path.join(dat_dir, f"e2e-{field}-{set_name}.dat")

        def value(server, concurrency):
            v = run_value(data, server, accounts, concurrency, field)
            return None if v is None else v * scale
        write_dat(dat, [1, 16, 64, 256], SERVERS, value)
        panels.append(panel(dat, set_title, "concurrency (RPCs in flight)",
                            ylabel, SERVERS, logy))
    render(png, 2, 1, panels)


def draw_latency(data, dat_dir, png):
    panels = []
    for set_name, accounts, set_title in ACCOUNT_SETS:
        for field, label in PERCENTILES:
            dat = os.path.join(dat_dir, f"e2e-{field}-{set_name}.dat")
            write_dat(dat, [1, 16, 64, 256], SERVERS,
                      lambda server, c: run_value(data, server, accounts, c,
                                                  field))
            panels.append(panel(dat, f"{label}, {set_title}",
                                "concurrency (RPCs in flight)",
                                f"{label} latency (ms)", SERVERS, logy=True))
    render(png, 3, 2, panels)


def draw_all(data, dat_dir, png_dir):
    os.makedirs(dat_dir, exist_ok=True)
    draw_engine(data, dat_dir, os.path.join(png_dir, "engine_ops.png"))
    draw_e2e(data, dat_dir, os.path.join(png_dir, "e2e_rps.png"), "rps",
             "thousand RPCs/s", scale=1e-3)
    draw_e2e(data, dat_dir, os.path.join(png_dir, "e2e_server_cpu.png"),
             "server_cpu_us", "server CPU per RPC (us)")
    draw_latency(data, dat_dir, os.path.join(png_dir, "e2e_latency.png"))
