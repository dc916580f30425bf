#!/usr/bin/env python3
"""Assembles the Go-template (Helm) twin of charts/modelops for bench/helm-compare.sh.

usage: bench/helm_chart.py OUT_DIR [--chart charts/modelops]

OUT_DIR gets the umbrella's Chart.yaml, values.yaml and values.schema.json and every sub-chart's
Chart.yaml, values.yaml and values.schema.json, copied from the Handlebars chart (so defaults,
value coalescing and schema validation are the same), plus the Go templates of
bench/helm-chart/templates/. The equality check in helm-compare.sh proves both charts render the
same objects; as a cheaper early warning, every partial of the Handlebars files the twin ports
must have a Go `define` of the same name (or be listed in INLINED below), so a partial added to
the Handlebars chart cannot go unnoticed.
"""
import argparse
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COPIED = ("Chart.yaml", "values.yaml", "values.schema.json")
# The Handlebars files the twin ports (paths under the chart).
PORTED = ["templates/_helpers.tpl", "templates/_scoring-service.tpl",
          "charts/scoring-flow/templates/_scoring-flow.tpl"]
# Handlebars partials whose Go twin is written out in bench/helm-chart/templates/scoring-*.yaml
# rather than as a define.
INLINED = {"modelops.scoring-service": "scoring-services.yaml", "scoring-flow.objects": "scoring-flows.yaml"}


def copy_chart_files(src, dst):
    os.makedirs(dst, exist_ok=True)
    for name in COPIED:
        if os.path.exists(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), os.path.join(dst, name))


def check_partials(chart, templates):
    defined = set()
    for name in os.listdir(templates):
        with open(os.path.join(templates, name)) as f:
            defined |= set(re.findall(r'\{\{-?\s*define\s+"([^"]+)"', f.read()))
    missing = []
    for path in PORTED:
        with open(os.path.join(chart, path)) as f:
            for name in re.findall(r'\{\{#\*inline\s+"([^"]+)"\}\}', f.read()):
                if name not in defined and name not in INLINED:
                    missing.append(f"{path}: {name}")
    if missing:
        sys.exit("helm_chart.py: Handlebars partials without a Go twin in bench/helm-chart/templates/ "
                 "(port them): " + ", ".join(missing))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--chart", default=os.path.join(HERE, "..", "charts", "modelops"))
    args = parser.parse_args()
    templates = os.path.join(HERE, "helm-chart", "templates")
    check_partials(args.chart, templates)
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(os.path.join(args.out, "templates"))
    copy_chart_files(args.chart, args.out)
    for sub in sorted(os.listdir(os.path.join(args.chart, "charts"))):
        src = os.path.join(args.chart, "charts", sub)
        if not os.path.isdir(src):
            sys.exit(f"helm_chart.py: sub-chart {src} is not a directory (packaged sub-charts are not supported)")
        copy_chart_files(src, os.path.join(args.out, "charts", sub))
    for name in sorted(os.listdir(templates)):
        shutil.copy(os.path.join(templates, name), os.path.join(args.out, "templates", name))


if __name__ == "__main__":
    main()
