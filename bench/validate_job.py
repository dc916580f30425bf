#!/usr/bin/env python3
"""Writes the inputs of bench/validate.sh: a batch IR of MODELS scikit-learn models, a values
file that splits them over SERVICES python scoring services on real-0, and a --requests file
with one sample request (and its expected answer) per model.

usage: bench/validate_job.py OUT_DIR --services N --models M --job-id ID --artifact URL
           --sha256 HEX --sample FILE (JSON {"row": [...], "prediction": n}) --executor-image REF

A job has one scoring service per runtime (docs/ir.md), so the IR alone gives one python
service with every model. The values file replaces the job's `scoringServices` list (values
files override the generated values, docs/ir.md "Merged values") with SERVICES entries of
MODELS / SERVICES models each: the chart deploys one MLServer per entry, and `install` records
them all in the job, which is what `validate` reads. The first entry keeps the generated name,
so the flows (which stay on the kwok nodes and never call) still name a service of the job.
"""
import argparse
import json
import os

PIPELINE = "bv"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--services", type=int, required=True)
    p.add_argument("--models", type=int, required=True)
    p.add_argument("--job-id", required=True)
    p.add_argument("--artifact", required=True)
    p.add_argument("--sha256", required=True)
    p.add_argument("--sample", required=True)
    p.add_argument("--executor-image", required=True)
    args = p.parse_args()
    if args.models % args.services:
        p.error("--models must be a multiple of --services")
    per_service = args.models // args.services
    models = [f"m{i:03d}" for i in range(args.models)]
    ir = os.path.join(args.out, "ir")
    os.makedirs(ir, exist_ok=True)

    # Every model must be used by a step, or it is not deployed: one flow per service's share.
    flows = [f"f{s:02d}" for s in range(args.services)]
    with open(os.path.join(ir, "pipeline.yaml"), "w") as f:
        json.dump({"apiVersion": "modelops.io/v1", "kind": "ScoringPipeline",
                   "metadata": {"name": PIPELINE}, "spec": {"mode": "batch", "flows": flows}}, f)
    with open(os.path.join(ir, "models.yaml"), "w") as f:
        for name in models:
            f.write("---\n")
            json.dump({"apiVersion": "modelops.io/v1", "kind": "Model", "metadata": {"name": name},
                       "spec": {"format": "PYTHON_BINARY", "version": "1",
                                "artifact": {"uri": args.artifact, "sha256": args.sha256}}}, f)
            f.write("\n")
    with open(os.path.join(ir, "flows.yaml"), "w") as f:
        for s, flow in enumerate(flows):
            steps = [{"name": f"s{j}", "model": models[s * per_service + j]} for j in range(per_service)]
            f.write("---\n")
            json.dump({"apiVersion": "modelops.io/v1", "kind": "ScoringFlow", "metadata": {"name": flow},
                       "spec": {"source": {"channel": "merchants", "format": "merchant-v2"},
                                "sink": {"channel": "merchant-scores", "format": "score-v1"},
                                "steps": steps}}, f)
            f.write("\n")

    # The generated service's name (src/preprocess: <pipeline>-scoring-<runtime>-<job>).
    base = f"{PIPELINE}-scoring-python-{args.job_id}"
    services = []
    for s in range(args.services):
        share = models[s * per_service:(s + 1) * per_service]
        services.append({
            "name": base if s == 0 else f"{base}-{s:02d}",
            "runtime": "python",
            "models": [{"name": m, "format": "PYTHON_BINARY", "version": "1", "uri": args.artifact,
                        "sha256": args.sha256} for m in share],
            "replicas": 1,
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "autoscaling": {"minReplicas": 1, "maxReplicas": 1, "targetCPUUtilizationPercentage": 50},
        })
    registry, rest = args.executor_image.split("/", 1)
    repository, tag = rest.rsplit(":", 1)
    real_node = {"key": "modelops.io/node", "operator": "In", "values": ["real"]}
    values = {
        "global": {
            "images": {"executor": {"registry": registry, "repository": repository, "tag": tag,
                                    "pullPolicy": "IfNotPresent"}},
            # 20 MLServer processes on a node of ~2 cores beside everything else: small requests.
            "resources": {"scoringService": {"requests": {"cpu": "10m", "memory": "96Mi"},
                                             "limits": {"cpu": "1", "memory": "512Mi"}}},
        },
        "scoring-service-python": {
            "tolerations": [{"key": "modelops.io/node", "operator": "Equal", "value": "real",
                             "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [real_node]}]}}},
        },
        "scoringServices": services,
    }
    with open(os.path.join(args.out, "values.yaml"), "w") as f:
        json.dump(values, f)

    with open(args.sample) as f:
        sample = json.load(f)
    request = {"inputs": [{"name": "x", "shape": [1, len(sample["row"])], "datatype": "FP64",
                           "data": sample["row"]}]}
    expected = {"outputs": [{"name": "predict", "shape": [1, 1], "data": [sample["prediction"]]}]}
    with open(os.path.join(args.out, "requests.yaml"), "w") as f:
        json.dump({"models": [{"name": m, "version": "1",
                               "requests": [{"request": request, "expected": expected}]}
                              for m in models]}, f)

    # Each service and its models, one line each: what the reference client asks.
    with open(os.path.join(args.out, "services.txt"), "w") as f:
        for s in services:
            f.write(s["name"] + " " + " ".join(m["name"] for m in s["models"]) + "\n")


if __name__ == "__main__":
    main()
