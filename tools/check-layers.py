#!/usr/bin/python3
"""Fail if the library's layering is broken, judged from #include lines.

Layers (ARCHITECTURE.md): include/ is the public API; src/ implements it
over shards/, simd/ and numa/; shards/ may use numa/; nothing below src/
includes from src/ or from anything above it (tools/, tests/, bench/).
Within every folder, a module is a basename (x.c and x.h together); x
uses y when x.c or x.h includes y.h. The modules of one folder must not use
each other in a circle, and neither may the library's folders.

Usage: check-layers.py [REPO_ROOT]   (exit 1 and name every violation)
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), '..'))
# Folder -> folders its files may include from (besides itself).
ALLOWED = {
    'include': set(),
    'numa': {'include'},
    'simd': {'include'},
    'shards': {'numa', 'include'},
    'src': {'shards', 'simd', 'numa', 'include'},
}
# Sub-folders held to a narrower rule than their folder: folder -> the
# library folders they may include from (besides themselves). src/ann/ is
# the graph index, which must not know the store.
NARROWER = {
    os.path.join('src', 'ann'): {'shards', 'simd', 'numa', 'include'},
}
# Headers generated into the build directory, at the include/ level.
GENERATED = {'cogmem_config.h'}
SCANNED = sorted(ALLOWED) + ['tools']
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def resolve(src_dir, name):
    """The repo-relative path an #include "name" in src_dir refers to."""
    for base in (os.path.join(ROOT, src_dir), ROOT, os.path.join(ROOT, 'include')):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(p):
            return os.path.relpath(p, ROOT)
    return None


def find_cycle(graph):
    """One cycle of the graph (a list of nodes), or None."""
    state = {}
    stack = []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                c = visit(v)
                if c:
                    return c
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state:
            c = visit(u)
            if c:
                return c
    return None


def main():
    errors = []
    modules = {}  # folder -> {module: set(module)}
    folders = {}  # library folder -> set(library folder)
    for folder in SCANNED:
        top = os.path.join(ROOT, folder)
        for dirpath, _, files in os.walk(top):
            for f in sorted(files):
                if not f.endswith(('.c', '.h', '.cpp')):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)
                here = os.path.dirname(rel)
                mod = os.path.splitext(rel)[0]
                modules.setdefault(here, {}).setdefault(mod, set())
                with open(path, encoding='utf-8') as fh:
                    text = fh.read()
                for name in INCLUDE.findall(text):
                    if name in GENERATED:
                        continue
                    target = resolve(here, name)
                    if target is None:
                        errors.append(f'{rel}: #include "{name}" names no file of the repository')
                        continue
                    tfolder = target.split(os.sep)[0]
                    narrow = NARROWER.get(here)
                    if (narrow is not None and os.path.dirname(target) != here
                            and tfolder not in narrow):
                        errors.append(f'{rel}: includes {target}: {here}/ may use only '
                                      f'{", ".join(sorted(narrow))}')
                    if folder in ALLOWED and tfolder != folder:
                        if tfolder not in ALLOWED[folder]:
                            errors.append(f'{rel}: includes {target}: {folder}/ may use only '
                                          f'{", ".join(sorted(ALLOWED[folder])) or "itself"}')
                        folders.setdefault(folder, set()).add(tfolder)
                    tmod = os.path.splitext(target)[0]
                    if os.path.dirname(target) == here and tmod != mod:
                        modules[here][mod].add(tmod)
    for here in sorted(modules):
        c = find_cycle(modules[here])
        if c:
            errors.append(f'{here}/: modules use each other in a circle: {" -> ".join(c)}')
    c = find_cycle(folders)
    if c:
        errors.append(f'folders use each other in a circle: {" -> ".join(c)}')
    for e in errors:
        print(e)
    if errors:
        return 1
    print(f'layers ok: {sum(len(m) for m in modules.values())} modules in {len(modules)} folders')
    return 0


if __name__ == '__main__':
    sys.exit(main())
