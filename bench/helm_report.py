#!/usr/bin/env python3
"""Summarises bench/helm-compare.sh's raw results: medians, ratios ours / Helm, speed-ups, targets.

usage: helm_report.py RESULTS.tsv   (lines: section, N, tool, seconds, peak RSS in KiB[, CPU seconds])
Prints a Markdown table (pasted into docs/benchmarks.md).
"""
import statistics
import sys
from collections import defaultdict

# (section, label, ours tool, helm tool, minimum speed-up target or None, N the target is for)
ROWS = [
    ("start", "process start (`--version` / `helm version`)", "ours", "helm", None, None),
    ("render", "render vs `helm template`", "ours", "helm", 5.0, 1000),
    ("install", "install-to-ready vs `helm install --wait`", "ours", "helm", 3.0, 200),
    ("install", "install-to-ready vs `helm install --wait`, Helm client defaults (QPS 5, burst 100)", "ours", "helm-client-defaults", None, None),
    ("complete", "install-to-complete (`install` + `wait`) vs `helm install --wait --wait-for-jobs`", "ours", "helm", None, None),
    ("complete", "install-to-complete vs `helm install --wait` + `kubectl wait --for=condition=complete job --all`", "ours", "helm+kubectl", None, None),
    ("teardown", "teardown (`finally`) vs `helm uninstall --wait`", "ours", "helm", 2.0, None),
    ("teardown", "teardown (`finally --cascade foreground`) vs `helm uninstall --wait --cascade foreground`", "ours-foreground", "helm-foreground", None, None),
]
RSS_TARGET = 1 / 3


def main():
    data = defaultdict(lambda: ([], [], []))
    for line in open(sys.argv[1]):
        section, n, tool, seconds, rss, *cpu = line.rstrip("\n").split("\t")
        data[(section, int(n), tool)][0].append(float(seconds))
        data[(section, int(n), tool)][1].append(int(rss))
        data[(section, int(n), tool)][2].extend(float(c) for c in cpu)
    print("| measure | N | runs | ours s | Helm s | ours / Helm | speed-up | ours RSS MiB | Helm RSS MiB | RSS ours / Helm | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for section, label, ours_tool, helm_tool, target, target_n in ROWS:
        for n in sorted({k[1] for k in data if k[0] == section}):
            ours, helm = data.get((section, n, ours_tool)), data.get((section, n, helm_tool))
            if not ours or not helm or not ours[0] or not helm[0]:
                continue
            t_ours, t_helm = statistics.median(ours[0]), statistics.median(helm[0])
            r_ours, r_helm = statistics.median(ours[1]) / 1024, statistics.median(helm[1]) / 1024
            speedup = t_helm / t_ours
            verdicts = []
            if target is not None and (target_n is None or target_n == n):
                verdicts.append(f"≥ {target:g}× {'met' if speedup >= target else '**missed**'}")
            verdicts.append(f"RSS ≤ ⅓ {'met' if r_ours <= RSS_TARGET * r_helm else '**missed**'}")
            print(f"| {label} | {n if section != 'start' else '–'} | {min(len(ours[0]), len(helm[0]))} "
                  f"| {t_ours:.3f} | {t_helm:.3f} | {t_ours / t_helm:.2f} | {speedup:.1f}× "
                  f"| {r_ours:.1f} | {r_helm:.1f} | {r_ours / r_helm:.2f} | {'; '.join(verdicts)} |")
    # the raw medians of every tool, for the record
    print()
    print("medians of every measured command (wall, peak RSS, CPU user+sys):")
    for (section, n, tool), (secs, rss, cpu) in sorted(data.items()):
        cpu_text = f"{statistics.median(cpu):7.2f} s CPU" if cpu else ""
        print(f"  {section:9} N={n:<5} {tool:22} {statistics.median(secs):8.3f} s  {statistics.median(rss) / 1024:7.1f} MiB  {cpu_text}  ({len(secs)} runs)")


if __name__ == "__main__":
    main()
