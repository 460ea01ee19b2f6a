#!/usr/bin/env bash
# Every relative link in the Markdown docs (README.md, docs/, benchmarks/, deploy/) points at a file that exists and,
# when it names an anchor (`file.md#section`), at a heading that exists in that file, with GitHub's anchor rules.
# Moving a section (the README points into docs/ for configuration and troubleshooting) must not leave dead links.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 - <<'PY'
import re, sys
from pathlib import Path

def anchors(md: Path):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to '-', duplicates numbered."""
    seen, out, fenced = {}, set(), False
    for line in md.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out

files = [Path("README.md"), *Path("docs").rglob("*.md"), *Path("benchmarks").rglob("*.md"), *Path("deploy").rglob("*.md")]
errors, checked = [], 0
for md in files:
    if not md.is_file():
        continue
    text = re.sub(r"```.*?```", "", md.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md.resolve()
        checked += 1
        if not dest.exists():
            errors.append(f"{md}: link to {target}: {path} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            errors.append(f"{md}: link to {target}: no heading '#{anchor}' in {dest.relative_to(Path.cwd())}")
for error in errors:
    print(error, file=sys.stderr)
if errors:
    sys.exit(1)
print(f"Markdown links: {checked} relative links in {len(files)} files, all resolve")
PY
