"""The layers of docs/design.md, section 1: each folder of src/ (and bench/) includes only
its own headers and those of the folders its row allows. Fails naming the include that
breaks a layer."""
import os
import re
import sys

ALLOWED = {
    "core": set(),
    "content": {"core"},
    "index": {"core", "content"},
    "io": {"core", "content"},
    "http": {"core", "io"},
    "transfer": {"core", "content", "index", "io"},
    "search": {"core", "content", "http", "index"},
    "cli": {"core", "content", "http", "io", "search", "transfer"},
    "peer": {"core", "content", "http", "index", "io", "search", "transfer"},
    "bench": {"cli", "core", "content", "http", "io", "search", "transfer"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
bad = []
for layer, allowed in ALLOWED.items():
    base = os.path.join(root, "bench" if layer == "bench" else os.path.join("src", layer))
    for dirpath, _, files in os.walk(base):
        for f in files:
            if not f.endswith((".cpp", ".hpp")):
                continue
            path = os.path.join(dirpath, f)
            with open(path, encoding="utf-8") as src:
                for n, line in enumerate(src, 1):
                    m = INCLUDE.match(line)
                    if m and m.group(1) != layer and m.group(1) in ALLOWED and m.group(1) not in allowed:
                        bad.append(f"{os.path.relpath(path, root)}:{n}: {layer} may not include {m.group(1)}/")
for b in bad:
    print(b)
print(f"{len(ALLOWED)} layers checked, {len(bad)} includes out of place")
sys.exit(1 if bad else 0)
