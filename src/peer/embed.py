#!/usr/bin/env python3
"""Writes a C++ source defining `std::string_view p2p::FUNCTION()`, the bytes of a file kept
in the repository (docs/openapi.json, the web page's files), so the binary serves the file
itself rather than a copy by hand. A .json input must be valid JSON, or the build fails.

    embed.py INPUT OUTPUT FUNCTION
"""
import json
import sys


def main():
    src, out, function = sys.argv[1:4]
    with open(src, "rb") as f:
        data = f.read()
    if src.endswith(".json"):
        try:
            json.loads(data)
        except ValueError as e:
            sys.exit(f"{src}: not valid JSON: {e}")
    rows = [", ".join(str(b) for b in data[i:i + 24]) for i in range(0, len(data), 24)]
    with open(out, "w") as f:
        f.write(f"// Generated from {src.rsplit('/', 1)[-1]} by embed.py at build time.\n")
        f.write("#include <string_view>\n\nnamespace p2p {\nnamespace {\n")
        f.write(f"constexpr unsigned char kBytes[{len(data)}] = {{\n")
        f.write(",\n".join(rows))
        f.write("};\n}  // namespace\n\n")
        f.write(f"std::string_view {function}() {{\n"
                "  return {reinterpret_cast<const char*>(kBytes), sizeof kBytes};\n}\n\n")
        f.write("}  // namespace p2p\n")


if __name__ == "__main__":
    main()
