#!/usr/bin/env python3
"""Writes a synthetic IR: N flows and M models in all formats, channels from examples/channels.

usage: bench/gen_ir.py OUT_DIR [--flows N] [--models M] [--mode batch|streaming]
"""
import argparse
import os

FORMATS = ["PMML", "PYTHON_BINARY", "PYTHON_SCRIPT", "STATISTICA", "TENSORFLOW_GRAPH",
           "TENSORFLOW_MODEL", "R_DATA", "R_OBJECT"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--flows", type=int, default=1000)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--mode", default="batch", choices=["batch", "streaming"])
    parser.add_argument("--name", default="bench")
    parser.add_argument("--no-windows", action="store_true", help="leave out STATISTICA (Windows-only) models")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    formats = [f for f in FORMATS if not (args.no_windows and f == "STATISTICA")]
    flows = [f"flow-{i:04d}" for i in range(args.flows)]
    with open(os.path.join(args.out, "pipeline.yaml"), "w") as f:
        f.write(f"apiVersion: modelops.io/v1\nkind: ScoringPipeline\nmetadata: {{name: {args.name}}}\n"
                f"spec:\n  mode: {args.mode}\n  parameters: {{threshold: \"0.5\", region: eu}}\n  flows:\n")
        f.writelines(f"    - {name}\n" for name in flows)
    with open(os.path.join(args.out, "models.yaml"), "w") as f:
        # https:// models need no credentials Secret (install checks one for object stores), so a
        # benchmark's job is exactly the chart's objects; kwok's pods download nothing anyway.
        for i in range(args.models):
            f.write(f"---\napiVersion: modelops.io/v1\nkind: Model\nmetadata: {{name: model-{i:04d}}}\n"
                    f"spec:\n  format: {formats[i % len(formats)]}\n  version: \"{i}\"\n"
                    f"  artifact: {{uri: \"https://models.example.invalid/model-{i:04d}/model\", sha256: \"{i:064x}\"}}\n")
    with open(os.path.join(args.out, "flows.yaml"), "w") as f:
        for i, name in enumerate(flows):
            steps = "".join(f"    - {{name: s{j}, model: model-{(i * 3 + j) % args.models:04d}}}\n" for j in range(3))
            f.write(f"---\napiVersion: modelops.io/v1\nkind: ScoringFlow\nmetadata: {{name: {name}}}\n"
                    f"spec:\n  source: {{channel: transactions, format: txn-v1}}\n"
                    f"  sink: {{channel: fraud-alerts, format: alert-v1}}\n"
                    f"  parameters: {{threshold: \"${{threshold}}\"}}\n  steps:\n{steps}"
                    f"    - {{name: decide, expression: \"s2 > ${{threshold}} && region == '${{region}}'\"}}\n")


if __name__ == "__main__":
    main()
