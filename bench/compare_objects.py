#!/usr/bin/env python3
"""Proves two streams of Kubernetes objects equal after normalisation (needs PyYAML).

usage: compare_objects.py OURS.yaml HELM.yaml [--namespace NS]

Normalisation, applied to both sides:
- objects are keyed by (apiVersion, kind, name); order and `# Source:` comments do not matter;
- metadata.namespace is removed (the executor stamps it; `helm template` prints none): on our
  side it must equal --namespace;
- ConfigMap data entries named *.yaml, *.yml or *.json are compared parsed, not as text: the
  Rust and Go YAML emitters quote scalars differently ('0.5' vs "0.5") but the data is the same;
- annotations checksum/* (sha256 of the rendered ConfigMap text, which differs for the same
  quoting reason) must be 64 hex digits on both sides and are then compared as equal.
Prints every difference (path, ours, helm) and exits 1 if there is any.
"""
import argparse
import json
import re
import sys

import yaml

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(path):
    with open(path) as f:
        return [d for d in yaml.load_all(f, Loader=Loader) if d is not None]


def normalise(obj, side, namespace, problems):
    meta = obj.setdefault("metadata", {})
    ns = meta.pop("namespace", None)
    if side == "ours" and namespace is not None and ns != namespace:
        problems.append(f"{obj.get('kind')}/{meta.get('name')}: ours has namespace {ns!r}, expected {namespace!r}")
    for where in (meta, obj.get("spec", {}).get("template", {}).get("metadata", {})):
        annotations = where.get("annotations") or {}
        for key, value in annotations.items():
            if key.startswith("checksum/"):
                if not re.fullmatch(r"[0-9a-f]{64}", str(value)):
                    problems.append(f"{obj.get('kind')}/{meta.get('name')} ({side}): {key} is not a sha256: {value!r}")
                annotations[key] = "<sha256>"
    if obj.get("kind") == "ConfigMap":
        for key, value in (obj.get("data") or {}).items():
            if key.endswith((".yaml", ".yml")):
                obj["data"][key] = {"<parsed yaml>": yaml.load(value, Loader=Loader)}
            elif key.endswith(".json"):
                obj["data"][key] = {"<parsed json>": json.loads(value)}
    return obj


def diff(path, a, b, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a:
                out.append(f"{path}.{key}: only in helm: {b[key]!r:.200}")
            elif key not in b:
                out.append(f"{path}.{key}: only in ours: {a[key]!r:.200}")
            else:
                diff(f"{path}.{key}", a[key], b[key], out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(f"{path}[{i}]", x, y, out)
    elif a != b:
        out.append(f"{path}: ours {a!r:.300} != helm {b!r:.300}")


def index(objects, side, namespace, problems):
    result = {}
    for obj in objects:
        obj = normalise(obj, side, namespace, problems)
        key = (obj.get("apiVersion"), obj.get("kind"), obj["metadata"].get("name"))
        if key in result:
            problems.append(f"{side}: {key} rendered twice")
        result[key] = obj
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ours")
    parser.add_argument("helm")
    parser.add_argument("--namespace")
    args = parser.parse_args()
    problems = []
    ours = index(load(args.ours), "ours", args.namespace, problems)
    helm = index(load(args.helm), "helm", None, problems)
    for key in sorted(set(ours) | set(helm), key=str):
        if key not in helm:
            problems.append(f"{key}: only rendered by modelops-executor")
        elif key not in ours:
            problems.append(f"{key}: only rendered by helm")
        else:
            diff("/".join(map(str, key[1:])), ours[key], helm[key], problems)
    if problems:
        for line in problems[:60]:
            print(f"  DIFF {line}", file=sys.stderr)
        if len(problems) > 60:
            print(f"  ... and {len(problems) - 60} more", file=sys.stderr)
        print(f"NOT EQUAL: {len(problems)} difference(s) between {len(ours)} and {len(helm)} objects", file=sys.stderr)
        sys.exit(1)
    kinds = {}
    for key in ours:
        kinds[key[1]] = kinds.get(key[1], 0) + 1
    print(f"equal: {len(ours)} objects ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")


if __name__ == "__main__":
    main()
