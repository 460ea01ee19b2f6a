#!/usr/bin/env bash
# README.md cannot rot: every shell command in its ```sh / ```bash blocks must be one that a test or CI
# runs (a rule below names the tests that run it, and they must still exist: the check lists the
# workspace's Rust tests and the Python tests rather than searching their sources, so a refactor that
# keeps the test keeps the evidence), or sit in a block explicitly marked as needing what this machine
# does not have:
#   <!-- requires-aws -->     a deployed stack / AWS credentials (serverless, aws, the client CLI on AWS)
#   <!-- requires-docker -->  a Docker engine (the image and compose files are checked statically by CI)
# An unknown command fails the check: add a test that runs it, or a rule with its evidence here.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 - README.md <<'PY'
import os, re, shlex, subprocess, sys
from pathlib import Path

RUN = "<run here>"  # evidence: this check runs the command itself, then the named file must exist
TEST = "<rust test>"  # evidence: a Rust test of this name exists (`cargo test --workspace -- --list`)
PYTEST = "<python test>"  # evidence: a pytest node id that `pytest --collect-only` finds
# (pattern the whole command must match, [(kind or file, test name or text)]). A file and a text are for
# scripts and CI definitions only (what they run is their text), never for test sources.
RULES = [
    (r"\./scripts/test", [(".ci/run", "./scripts/test")]),
    (r"\./scripts/dev", [(TEST, "scripts_dev_starts_shows_telemetry_and_stops_cleanly_twice")]),
    # Run 2 of that test sets both variables and checks the header at the backend.
    (r"OTEL_EXPORTER_OTLP_ENDPOINT=\S+ OTEL_EXPORTER_OTLP_HEADERS=\S+ \./scripts/dev",
     [(TEST, "scripts_dev_starts_shows_telemetry_and_stops_cleanly_twice")]),
    # The script prints it; the test waits for that line, then GETs /.
    (r"curl -s http://127\.0\.0\.1:9000/",
     [(TEST, "scripts_dev_starts_shows_telemetry_and_stops_cleanly_twice")]),
    (r"curl -si http://127\.0\.0\.1:9000/private",
     [(TEST, "devserver_serves_the_function_and_the_sidecar_delivers_its_telemetry")]),
    (r"curl -s http://127\.0\.0\.1:9000/2015-03-31/functions/function/invocations -d @deploy/events/get-(root|private)\.json",
     [(TEST, "devserver_serves_the_function_and_the_sidecar_delivers_its_telemetry"),
      (PYTEST, "deploy/tests/test_example_events.py::test_root_event_lists_the_buckets"),
      (PYTEST, "deploy/tests/test_example_events.py::test_private_event_lists_the_buckets_and_names_the_cognito_caller")]),
    # No test builds the client on its own (cargo test builds it with the test features): run it here.
    (r"cargo build --locked -p client", [(RUN, "target/debug/aws-rust-http-api")]),
    (r"\./scripts/test -- \S+", [("scripts/test", 'if [ "${1:-}" = "--" ]')]),
]
# What a marked block may contain: the marker is for commands that need AWS or Docker, nothing else.
MARKED = {
    "requires-aws": r"(serverless|aws|aws-rust-http-api) .*",
    "requires-docker": r"(docker|curl -s (http://)?(localhost|127\.0\.0\.1):9000/).*",
}
# Static checks CI runs on what the Docker commands use.
DOCKER_EVIDENCE = [("scripts/checks/dockerfile.sh", "hadolint"), ("scripts/checks/local-stack.sh", "test_local_stack.py")]

readme = Path(sys.argv[1])
errors, seen = [], 0

def commands(block):
    """Logical lines of a shell block: continuations joined, comments and blank lines dropped."""
    joined, pending = [], ""
    for line in block:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    for line in joined:
        try:
            words = shlex.split(line, comments=True)
        except ValueError as error:
            errors.append(f"README.md: cannot parse {line!r}: {error}")
            continue
        if words:
            yield " ".join(words), line.strip()

_listed = {}

def listed(kind):
    """Names of the Rust tests (cargo) or Python test node ids (pytest), listed once."""
    if kind not in _listed:
        if kind == TEST:
            # After ./scripts/test's `cargo test` this builds nothing; each test binary prints `name: test`.
            run = subprocess.run(["cargo", "test", "--locked", "--workspace", "--", "--list"],
                                 capture_output=True, text=True)
            names = {line.rsplit("::", 1)[-1][: -len(": test")]
                     for line in run.stdout.splitlines() if line.endswith(": test")}
        else:
            run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                                  "deploy/tests"], capture_output=True, text=True)
            names = {line.strip() for line in run.stdout.splitlines() if "::" in line}
        if run.returncode != 0:
            errors.append(f"listing the tests failed ({kind}):\n{run.stderr[-2000:]}")
        _listed[kind] = names
    return _listed[kind]

def evidence_ok(items, command):
    ok = True
    for file, needle in items:
        if file in (TEST, PYTEST):
            if needle not in listed(file):
                errors.append(f"README.md: `{command}`: the test that runs it is gone: {needle}")
                ok = False
            continue
        if file == RUN:
            print(f"running `{command}` (README.md promises it works)", flush=True)
            produced = Path(needle)
            # cargo writes to $CARGO_TARGET_DIR when it is set, not to ./target.
            if needle.startswith("target/") and os.environ.get("CARGO_TARGET_DIR"):
                produced = Path(os.environ["CARGO_TARGET_DIR"]) / needle[len("target/"):]
            if subprocess.run(shlex.split(command)).returncode != 0 or not produced.exists():
                errors.append(f"README.md: `{command}` failed or did not produce {needle}")
                ok = False
            continue
        path = Path(file)
        if not path.is_file() or needle not in path.read_text():
            errors.append(f"README.md: `{command}`: the evidence is gone: {file} no longer contains {needle!r}")
            ok = False
    return ok

lines = readme.read_text().splitlines()
i = 0
while i < len(lines):
    fence = re.match(r"^```(sh|bash|shell|console)\s*$", lines[i])
    if not fence:
        i += 1
        continue
    marker = None
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j >= 0:
        found = re.fullmatch(r"<!--\s*(requires-aws|requires-docker)\s*-->", lines[j].strip())
        marker = found.group(1) if found else None
    end = i + 1
    while end < len(lines) and not lines[end].startswith("```"):
        end += 1
    for command, raw in commands(lines[i + 1:end]):
        seen += 1
        if marker:
            if not re.fullmatch(MARKED[marker], command):
                errors.append(f"README.md:{i + 1}: `{raw}` is marked {marker} but does not need it")
            elif marker == "requires-docker":
                evidence_ok(DOCKER_EVIDENCE, raw)
            continue
        rule = next((r for r in RULES if re.fullmatch(r[0], command)), None)
        if rule is None:
            errors.append(f"README.md:{i + 1}: `{raw}`: no test or CI runs this command "
                          "(add one and a rule in scripts/checks/readme.sh, or mark the block)")
        else:
            evidence_ok(rule[1], raw)
    i = end + 1

if seen == 0:
    errors.append("README.md: no shell commands found (did the fences change?)")
for error in errors:
    print(error, file=sys.stderr)
if errors:
    sys.exit(1)
print(f"README.md: {seen} shell commands, each run by a test or CI or marked")
PY
