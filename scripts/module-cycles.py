#!/usr/bin/env python3
"""Reports module cycles in every crate of the workspace (python3, standard library only).

For each crate under ``crates/*/src`` (each crate root: ``lib.rs``, ``main.rs``, every
``bin/*.rs``) this builds the graph "module A names an item defined in module B" and prints
every strongly connected component of more than one module, with one place (file:line and the
path written there) for each edge inside it. Exit status 1 if any crate has a cycle, else 0.

Usage: ``scripts/module-cycles.py [WORKSPACE] [--crate NAME ...] [--edges]``
(``--edges`` also prints every crate's whole graph).

What counts as naming an item, and how it is mapped to the module that defines it:

- ``use`` declarations (any visibility, nested trees, ``self`` in braces, ``as`` aliases,
  globs) whose path starts with ``crate``/``self``/``super``, or with a child module or a name
  the module imported (2018-edition relative paths, e.g. ``pub use codec::read_image`` in
  ``lib.rs``); paths into other crates are ignored.
- Path mentions in code: ``crate::a::b``, ``self::a``, ``super::a`` (``super::super::…``
  too), ``$crate::…`` in macros, and ``name::…`` where ``name`` is a child module or a name the
  module imported. A child naming its parent through ``super::`` is an edge to the parent.
- A path is walked through the module tree; the first non-module segment is an item. If that
  module defines it (``fn``/``struct``/``enum``/``trait``/``type``/``const``/``static``/
  ``union``/``macro_rules!`` at module level) the edge goes there; if the module imports it
  (``use``/``pub use``, e.g. ``lib.rs``'s re-exports) the import is followed to the defining
  module; glob imports are searched; otherwise the module itself is taken. A path that ends at
  a module (``use crate::zarr;``) is an edge to that module.
- Inline ``mod name { … }`` blocks are modules of their own (``file_module::name``).
- Ignored: comments (doc comments and their intra-doc links included) and string/char
  literals; ``#[cfg(test)] mod …`` blocks inside a file and the files of ``#[cfg(test)]
  mod …;`` declarations; any file named ``tests.rs``. A module never has an edge to itself.
- ``mod`` declarations alone are not edges (declaring a child is not naming its items).
- A module and its own submodules are one unit: a descendant naming a (non-root) ancestor,
  e.g. ``sgemm::avx2`` using ``super::for_each_block``, is not an edge. The crate root has no
  such allowance (``lib.rs`` should re-export, not define what its modules share).

Limitations: macros other than ``$crate`` paths are not expanded, ``#[path]`` attributes and
``include!`` are not followed, and method or field names are never taken for paths.
"""

import argparse
import re
import sys
from pathlib import Path

ITEM_KEYWORDS = {"fn", "struct", "enum", "trait", "type", "const", "static", "union"}
TOKEN_RE = re.compile(
    r"\$crate|r#[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*|::|[{}()\[\];,#*!=<>.:&'$@^|+\-/%?~]"
)


def strip_comments_and_literals(text):
    """Returns `text` with comments and string/char literal contents blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)

    def blank(segment):
        return "".join("\n" if c == "\n" else " " for c in segment)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif re.match(r'(b|c)?r#*"', text[i:i + 260]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'(b|c)?r(#*)"', text[i:])
            hashes = m.group(2)
            end = text.find('"' + hashes, i + m.end())
            j = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + blank(text[i + 2:j]))
            i = j
        elif c == '"' or (c in "bc" and text.startswith('"', i + 1) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))):
            j = i + (1 if c == '"' else 2)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append('""' + blank(text[i + 2:j]))
            i = j
        elif c == "'":
            # A char literal ('x', '\n', '\u{..}', b'x' handled by the 'b' being an identifier
            # character before it) or a lifetime ('a): a literal closes within a few characters.
            m = re.match(r"'(\\(x[0-9A-Fa-f]{2}|u\{[0-9A-Fa-f]{1,6}\}|.)|[^\\'\n])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tokenize(text):
    """(token, line) pairs of cleaned source."""
    tokens = []
    line = 1
    pos = 0
    for m in TOKEN_RE.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        tok = m.group(0)
        if tok.startswith("r#"):
            tok = tok[2:]
        tokens.append((tok, line))
    return tokens


class Module:
    def __init__(self, path, file):
        self.path = path  # tuple of names; () is the crate root
        self.file = file
        self.children = {}  # name -> file of a `mod name;` (None for inline modules)
        self.test_children = set()
        self.defined = set()
        self.imports = {}  # name -> (segments, line) as written in this module
        self.globs = []  # segments of `use path::*`
        self.mentions = []  # (segments, line, text) to resolve into edges

    def name(self):
        return "::".join(self.path) if self.path else "crate"


def parse_use_tree(tokens, i):
    """Parses a use tree starting at tokens[i]; returns (entries, next index after ';').

    Each entry is (segments, alias, is_glob, line)."""
    entries = []

    def tree(i, prefix):
        segs = list(prefix)
        line = tokens[i][1] if i < len(tokens) else 0
        if tokens[i][0] == "::":
            i += 1
        while i < len(tokens):
            tok, line = tokens[i]
            if tok == "{":
                i += 1
                while tokens[i][0] != "}":
                    i = tree(i, segs)
                    if tokens[i][0] == ",":
                        i += 1
                return i + 1
            if tok == "*":
                entries.append((segs, None, True, line))
                return i + 1
            if re.match(r"[A-Za-z_$]", tok):
                segs.append(tok)
                i += 1
                if i < len(tokens) and tokens[i][0] == "::":
                    i += 1
                    continue
                alias = None
                if i < len(tokens) and tokens[i][0] == "as":
                    alias = tokens[i + 1][0]
                    i += 2
                if segs[-1] == "self" and len(segs) > 1:
                    segs = segs[:-1]
                    alias = alias or segs[-1]
                entries.append((segs, alias, False, line))
                return i
            return i + 1  # unexpected token: skip it

    while i < len(tokens) and tokens[i][0] != ";":
        j = tree(i, [])
        i = j if j > i else i + 1
    return entries, i + 1


def parse_file(crate, file, mod_path, modules):
    """Parses one module file (and its inline modules) into `modules`."""
    text = strip_comments_and_literals(file.read_text(encoding="utf-8", errors="replace"))
    tokens = tokenize(text)
    module = modules.setdefault(mod_path, Module(mod_path, file))
    module.file = file
    scopes = [(module, 0)]  # (module, brace depth of its items)
    depth = 0
    pending_test = False
    i = 0
    n = len(tokens)
    while i < n:
        tok, line = tokens[i]
        cur = scopes[-1][0]
        at_module_level = depth == scopes[-1][1]
        if tok == "#" and i + 1 < n and tokens[i + 1][0] in ("[", "!"):
            # An attribute: find its end and whether it is exactly #[cfg(test)].
            j = i + (2 if tokens[i + 1][0] == "[" else 3)
            level = 1
            start = j
            while j < n and level:
                if tokens[j][0] == "[":
                    level += 1
                elif tokens[j][0] == "]":
                    level -= 1
                j += 1
            inner = [t for t, _ in tokens[start:j - 1]]
            if inner == ["cfg", "(", "test", ")"]:
                pending_test = True
            i = j
            continue
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if len(scopes) > 1 and depth < scopes[-1][1]:
                scopes.pop()
        elif tok == "mod" and i + 1 < n and re.match(r"[A-Za-z_]", tokens[i + 1][0]):
            name = tokens[i + 1][0]
            after = tokens[i + 2][0] if i + 2 < n else ";"
            if pending_test:
                pending_test = False
                if after == "{":
                    # Skip the whole test module.
                    j, level = i + 3, 1
                    while j < n and level:
                        if tokens[j][0] == "{":
                            level += 1
                        elif tokens[j][0] == "}":
                            level -= 1
                        j += 1
                    i = j
                    continue
                cur.test_children.add(name)
                i += 3
                continue
            if after == ";":
                cur.children[name] = "file"
                i += 3
                continue
            if after == "{":
                child_path = cur.path + (name,)
                child = modules.setdefault(child_path, Module(child_path, file))
                child.file = file
                cur.children[name] = None
                depth += 1
                scopes.append((child, depth))
                i += 3
                continue
        elif tok == "use" and (i == 0 or tokens[i - 1][0] not in ("::", ".")):
            entries, j = parse_use_tree(tokens, i + 1)
            for segs, alias, glob, ln in entries:
                if not segs:
                    continue
                written = "use " + "::".join(segs) + ("::*" if glob else "")
                if glob:
                    cur.globs.append(segs)
                else:
                    key = alias or segs[-1]
                    if key not in ("self", "_"):
                        cur.imports.setdefault(key, (segs, ln))
                cur.mentions.append((segs, ln, written))
            pending_test = False
            i = j
            continue
        elif tok == "macro_rules" and i + 2 < n and tokens[i + 1][0] == "!":
            if at_module_level:
                cur.defined.add(tokens[i + 2][0])
        elif tok in ITEM_KEYWORDS and at_module_level and i + 1 < n:
            nxt = tokens[i + 1][0]
            if re.match(r"[A-Za-z_]", nxt) and nxt not in ("fn", "mut", "unsafe", "extern"):
                cur.defined.add(nxt)
        elif re.match(r"[A-Za-z_$]", tok) and i + 1 < n and tokens[i + 1][0] == "::":
            prev = tokens[i - 1][0] if i else ""
            if prev not in ("::", ".") and tok not in ("Self",):
                segs = [tok]
                j = i + 1
                while j + 1 < n and tokens[j][0] == "::" and re.match(r"[A-Za-z_]", tokens[j + 1][0]):
                    segs.append(tokens[j + 1][0])
                    j += 2
                cur.mentions.append((segs, line, "::".join(segs)))
                i = j
                continue
        if tok not in ("pub", "(", ")", "crate", "super", "in", "self") and tok != "#":
            # Visibility tokens may stand between #[cfg(test)] and `mod`; anything else ends it.
            if tok != "mod":
                pending_test = False
        i += 1

    # Child module files.
    # A crate root's and a mod.rs's children sit beside it; foo.rs's in foo/.
    base = file.parent if not mod_path or file.name == "mod.rs" else file.parent / file.stem
    for name, kind in list(module.children.items()):
        if kind != "file":
            continue
        child_path = mod_path + (name,)
        for candidate in (base / f"{name}.rs", base / name / "mod.rs"):
            if candidate.is_file():
                if candidate.name == "tests.rs":
                    break
                parse_file(crate, candidate, child_path, modules)
                break


def children_of(modules, path):
    m = modules.get(path)
    return m.children if m else {}


def resolve(modules, cur, segs, seen=None):
    """The module that defines what `segs` (written in module `cur`) names; None if external."""
    seen = set() if seen is None else seen
    key = (cur, tuple(segs))
    if key in seen:
        return None
    seen.add(key)
    first = segs[0]
    if first in ("crate", "$crate"):
        return walk(modules, (), segs[1:], seen)
    if first == "self":
        return walk(modules, cur, segs[1:], seen)
    if first == "super":
        m, rest = cur, list(segs)
        while rest and rest[0] == "super":
            m, rest = m[:-1], rest[1:]
        return walk(modules, m, rest, seen)
    if first in children_of(modules, cur):
        return walk(modules, cur, segs, seen)
    module = modules.get(cur)
    if module and first in module.imports:
        target, _ = module.imports[first]
        if list(target) == list(segs[:1]):
            return None
        return resolve(modules, cur, list(target) + list(segs[1:]), seen)
    return None


def walk(modules, m, rest, seen):
    rest = list(rest)
    while rest and rest[0] in children_of(modules, m):
        m, rest = m + (rest[0],), rest[1:]
    if not rest:
        return m
    if rest[0] == "super":
        return resolve(modules, m, rest, seen)
    module = modules.get(m)
    if module is None:
        return m
    name = rest[0]
    if name in module.defined:
        return m
    if name in module.imports:
        target, _ = module.imports[name]
        found = resolve(modules, m, list(target) + rest[1:], seen)
        return found if found is not None else m
    for glob in module.globs:
        gm = resolve(modules, m, glob, seen)
        if gm is not None and gm in modules:
            g = modules[gm]
            if name in g.defined or name in g.imports or name in g.children:
                found = walk(modules, gm, rest, seen)
                if found is not None:
                    return found
    return m


def crate_graph(root_file):
    modules = {}
    parse_file(root_file, root_file, (), modules)
    edges = {}  # (a, b) -> (file, line, text)
    for path, module in modules.items():
        for segs, line, text in module.mentions:
            target = resolve(modules, path, segs)
            if target is None or target == path or target not in modules:
                continue
            # A module and the submodules it declares are one unit (a private `avx2` inside
            # `sgemm` using `super::Segment`): a descendant naming a non-root ancestor is not
            # an edge. The crate root gets no such allowance: items it defines are shared
            # and belong in a module of their own.
            if target and len(target) < len(path) and path[: len(target)] == target:
                continue
            edges.setdefault((path, target), (module.file, line, text))
    return modules, edges


def sccs(nodes, edges):
    """Tarjan's strongly connected components."""
    graph = {v: [] for v in nodes}
    for a, b in edges:
        graph[a].append(b)
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def name(path):
    return "::".join(path) if path else "crate"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workspace", nargs="?", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--crate", action="append", help="only this crate (repeatable)")
    parser.add_argument("--edges", action="store_true", help="print every edge too")
    args = parser.parse_args()
    workspace = Path(args.workspace)
    crate_dirs = sorted(p for p in (workspace / "crates").glob("*/src") if p.is_dir())
    if args.crate:
        crate_dirs = [p for p in crate_dirs if p.parent.name in args.crate]
    if not crate_dirs:
        print(f"no crates under {workspace / 'crates'}", file=sys.stderr)
        return 2
    any_cycle = False
    for src in crate_dirs:
        roots = [src / r for r in ("lib.rs", "main.rs") if (src / r).is_file()]
        roots += sorted((src / "bin").glob("*.rs")) if (src / "bin").is_dir() else []
        for root in roots:
            label = src.parent.name
            if root.name != "lib.rs":
                label += f" ({root.relative_to(src)})"
            modules, edges = crate_graph(root)
            cycles = [sorted(c) for c in sccs(modules.keys(), edges.keys()) if len(c) > 1]
            cycles.sort(key=lambda c: [name(p) for p in c])
            if args.edges:
                print(f"{label}: {len(modules)} modules, {len(edges)} edges")
                for (a, b), (file, line, text) in sorted(edges.items()):
                    print(f"    {name(a)} -> {name(b)}  ({file.relative_to(workspace)}:{line} {text})")
            if not cycles:
                print(f"{label}: no module cycles ({len(modules)} modules)")
                continue
            any_cycle = True
            print(f"{label}: {len(cycles)} module cycle(s) ({len(modules)} modules)")
            for k, comp in enumerate(cycles, 1):
                members = set(comp)
                print(f"  cycle {k} ({len(comp)} modules): " + ", ".join(name(p) for p in comp))
                for (a, b), (file, line, text) in sorted(edges.items()):
                    if a in members and b in members:
                        print(f"    {name(a)} -> {name(b)}  ({file.relative_to(workspace)}:{line} {text})")
    return 1 if any_cycle else 0


if __name__ == "__main__":
    sys.exit(main())
