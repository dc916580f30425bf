#!/usr/bin/env python3
"""Cycles between the crate's modules (one module = one file under src/).

The graph is derived from the sources: an edge A -> B when A's non-test code names B through a
`use crate::…`, `use super::…`, `use self::…` (or a child module's name in a mod.rs) or an inline
`crate::…`/`super::…` path, or through a module it imported by name (`use crate::cluster;` then
`cluster::apply::x`). Each path resolves to the longest prefix that is a module file. Test modules
(`#[cfg(test)] mod …`) and comments are left out: they are not the library's structure.

Prints the number of modules and edges, then every strongly connected component of more than one
module (a cycle) with the edges inside it, and `cycles: N (M …)` last, M counting the cycles between a
module and its own submodules only. Usage: scripts/module-cycles.py [src]
"""

import re
import sys
from pathlib import Path

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "src")


def module_of(path: Path) -> tuple:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments_and_tests(text: str) -> str:
    # Line comments (doc links name modules without depending on them) and string literals.
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"//[^\n]*", "", text)
    # Test modules: from `#[cfg(test)]` followed by `mod x {` to the matching brace.
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 0, m.end() - 1
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        i = j + 1
    out.append(text[i:])
    return "".join(out)


def expand_use(tree: str) -> list:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [re.sub(r"as\w+$", "", tree)] if tree else []
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    items, depth, start = [], 0, 0
    for k, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(inner[start:k])
            start = k + 1
    items.append(inner[start:])
    return [p for item in items if item for p in expand_use(prefix + item)]


def main() -> None:
    files = sorted(SRC.rglob("*.rs"))
    modules = {module_of(f): f for f in files}
    edges = {}

    for f in files:
        me = module_of(f)
        here = me  # `self::`; `super::` is its parent; children may be named bare (2018 paths)
        text = strip_comments_and_tests(f.read_text())
        children = {m[-1] for m in modules if len(m) == len(here) + 1 and m[:-1] == here}

        def resolve(path: str):
            segs = path.split("::")
            if segs[0] == "crate":
                base, rest = (), segs[1:]
            elif segs[0] == "super":
                base, rest = here[:-1], segs[1:]
                while rest and rest[0] == "super":
                    base, rest = base[:-1], rest[1:]
            elif segs[0] == "self":
                base, rest = here, segs[1:]
            elif segs[0] in children:
                base, rest = here, segs
            else:
                return None
            best = None
            for n in range(len(rest) + 1):
                cand = base + tuple(rest[:n])
                if cand in modules:
                    best = cand
            return best

        targets, aliases = set(), {}
        uses = list(re.finditer(r"\buse\s+([^;]+);", text))
        for m in uses:
            for p in expand_use(m.group(1)):
                target = resolve(p)
                if target is None:
                    continue
                targets.add(target)
                last = p.split("::")[-1]
                if target[-1:] == (last,):  # a module imported by name: `use super::record;`
                    aliases[last] = target
                elif last == "self" and target:  # `use super::record::{self, …}`
                    aliases[target[-1]] = target
        body = re.sub(r"\buse\s+[^;]+;", "", text)
        for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", body):
            target = resolve(m.group(1))
            if target is not None:
                targets.add(target)
        for name, target in aliases.items():
            for m in re.finditer(r"(?<![\w:])" + re.escape(name) + r"((?:::\w+)+)", body):
                segs = m.group(1).split("::")[1:]
                best = target
                for n in range(len(segs) + 1):
                    if target + tuple(segs[:n]) in modules:
                        best = target + tuple(segs[:n])
                targets.add(best)
        targets.discard(me)
        targets.discard(())  # the crate root (lib.rs) only declares modules
        edges[me] = targets

    # Tarjan's strongly connected components.
    index, low, on_stack, stack, sccs, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)

    name = lambda m: "::".join(m) or "crate"
    print(f"modules: {len(modules)}, edges: {sum(len(t) for t in edges.values())}")
    cycles = [sorted(c) for c in sccs if len(c) > 1]
    nested = 0
    for comp in sorted(cycles):
        members = set(comp)
        # A module and its own submodules only (mod.rs re-exports or calls a child that uses the
        # parent's types): listed apart from cycles between siblings or distant modules.
        family = all(m[: len(comp[0])] == comp[0] for m in comp)
        nested += family
        kind = "parent-child " if family else ""
        print(f"{kind}cycle of {len(comp)}: " + ", ".join(name(m) for m in comp))
        for a in comp:
            for b in sorted(edges[a] & members):
                print(f"    {name(a)} -> {name(b)}")
    print(f"cycles: {len(cycles)} ({nested} between a module and its own submodules only)")


if __name__ == "__main__":
    main()
