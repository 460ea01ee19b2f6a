"""The Dockerfile's final stage puts the three files where Lambda looks for them; the builder cross-compiles.

No Docker engine here, so the final stage is *replayed*: its COPY instructions are applied to an empty directory,
with the release binaries of this checkout standing in for the builder's /out, and the result is inspected.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
import yaml

from dockerfile_model import Copy, Stage, expand, parse_copy, parse_stages

# The environment of public.ecr.aws/lambda/provided:al2023 (documented by AWS, fixed for the image family).
BASE_IMAGE_ENV = {"LAMBDA_RUNTIME_DIR": "/var/runtime", "LAMBDA_TASK_ROOT": "/var/task"}
BINARIES = ["bootstrap", "otel-sidecar"]


@pytest.fixture(scope="module")
def stages(repo) -> list[Stage]:
    return parse_stages(repo / "Dockerfile")


@pytest.fixture(scope="module")
def final(stages) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def builder(stages) -> Stage:
    (stage,) = [s for s in stages if any("cargo zigbuild" in i.value for i in s.of("RUN"))]
    return stage


def final_env(final: Stage) -> dict[str, str]:
    env = dict(BASE_IMAGE_ENV)
    for instruction in final.of("ENV"):
        for pair in instruction.value.split():
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def final_copies(final: Stage) -> list[Copy]:
    return [parse_copy(i) for i in final.of("COPY") + final.of("ADD")]


# --- the final stage -----------------------------------------------------------------------------------------------


def test_final_stage_is_the_pinned_lambda_base_image(final):
    match = re.fullmatch(r"public\.ecr\.aws/lambda/provided:al2023\.[0-9.]+@sha256:[0-9a-f]{64}", final.base)
    assert match, f"final stage must be provided:al2023 pinned by dated tag and digest, got {final.base}"
    assert final.platform is None, "the final stage is the target platform's image: no --platform"


def test_final_stage_keeps_the_base_entrypoint_and_names_a_handler(final):
    # /lambda-entrypoint.sh runs the Runtime Interface Emulator outside Lambda and requires one argument.
    assert final.of("ENTRYPOINT") == []
    assert final.of("ADD") == []
    (cmd,) = final.of("CMD")
    assert cmd.value.strip().startswith("["), "exec form"


@pytest.fixture(scope="module")
def image_root(repo, final, builder, tmp_path_factory) -> Path:
    """An empty directory with the final stage's COPY instructions applied to it."""
    release_dir = Path(os.environ.get("AWS_RUST_HTTP_API_RELEASE_DIR", repo / "target" / "release"))
    root = tmp_path_factory.mktemp("image-root")
    build_out = builder_outputs(builder)
    env = final_env(final)
    for copy in final_copies(final):
        dest = Path(expand(copy.dest, env))
        assert dest.is_absolute(), f"line {copy.line}: destination {copy.dest} must be absolute"
        assert len(copy.sources) == 1, f"line {copy.line}: one file per COPY keeps destinations obvious"
        (source,) = copy.sources
        if copy.from_stage is None:
            origin = repo / source
        else:
            assert copy.from_stage == builder.name, f"line {copy.line}: unexpected --from={copy.from_stage}"
            assert source in build_out, f"line {copy.line}: {source} is not produced by the builder ({build_out})"
            origin = release_dir / build_out[source]
        assert origin.is_file(), f"line {copy.line}: {origin} does not exist (binary not built, or file missing)"
        target = root / dest.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(origin.read_bytes())
        mode = int(copy.chmod, 8) if copy.chmod else stat.S_IMODE(origin.stat().st_mode)
        target.chmod(mode)
    return root


def builder_outputs(builder: Stage) -> dict[str, str]:
    """`/out/NAME` paths the builder fills, mapped to the binary NAME they are copied from."""
    outputs = {}
    for run in builder.of("RUN"):
        for match in re.finditer(r"\bcp\b([^&;]*?)\s(/out)/?(?=\s|$)", run.value):
            for name in re.findall(r"target/\S+/release/([A-Za-z0-9_-]+)", match.group(1)):
                outputs[f"/out/{name}"] = name
    return outputs


def assert_executable_elf(path: Path):
    assert path.is_file(), f"{path} missing"
    mode = stat.S_IMODE(path.stat().st_mode)
    # Lambda runs the image as a non-root user: "other" needs read and execute.
    assert mode & 0o555 == 0o555, f"{path} mode {oct(mode)}: not executable by every user"
    assert mode & 0o022 == 0, f"{path} mode {oct(mode)}: writable by group/others"
    assert path.read_bytes()[:4] == b"\x7fELF", f"{path} is not an ELF executable"


def test_function_is_the_runtime_bootstrap(image_root):
    assert_executable_elf(image_root / "var/runtime/bootstrap")


def test_sidecar_is_an_external_extension(image_root):
    assert_executable_elf(image_root / "opt/extensions/otel-sidecar")
    # Lambda starts every file in /opt/extensions as an extension: nothing else may land there.
    assert sorted(p.name for p in (image_root / "opt/extensions").iterdir()) == ["otel-sidecar"]


def test_sidecar_configuration_is_at_its_default_path(image_root):
    config = image_root / "opt/otel-config.yaml"
    assert config.is_file()
    mode = stat.S_IMODE(config.stat().st_mode)
    assert mode & 0o444 == 0o444 and mode & 0o022 == 0, oct(mode)
    assert isinstance(yaml.safe_load(config.read_text()), dict), "otel-config.yaml must be a YAML mapping"


def test_nothing_else_is_copied(image_root):
    files = sorted(str(p.relative_to(image_root)) for p in image_root.rglob("*") if p.is_file())
    assert files == ["opt/extensions/otel-sidecar", "opt/otel-config.yaml", "var/runtime/bootstrap"]


# --- the builder -----------------------------------------------------------------------------------------------------


def test_every_build_stage_runs_on_the_build_platform(stages):
    for stage in stages[:-1]:
        assert stage.platform == "$BUILDPLATFORM", f"stage {stage.name} would run under emulation"


def zigbuild_invocations(command: str) -> list[list[str]]:
    """The arguments of each `cargo zigbuild` invocation in a RUN command (one `&&`-separated step each)."""
    steps = [step.split() for step in re.split(r"&&|;", command.replace("\\\n", " "))]
    return [step[2:] for step in steps if step[:2] == ["cargo", "zigbuild"]]


def test_builder_cross_compiles_both_binaries_locked_against_glibc_2_34(builder):
    (run,) = [i for i in builder.of("RUN") if "cargo zigbuild" in i.value]
    command = run.value
    invocations = zigbuild_invocations(command)
    assert invocations, "no cargo zigbuild step"
    for args in invocations:
        assert "--release" in args and "--locked" in args, args
        assert re.search(r'--target "?\$triple\.2\.34"?', " ".join(args)), "glibc floor pinned to 2.34 (Amazon Linux 2023)"
    assert "arm64) triple=aarch64-unknown-linux-gnu" in command
    assert "amd64) triple=x86_64-unknown-linux-gnu" in command
    assert sorted(builder_outputs(builder)) == ["/out/bootstrap", "/out/otel-sidecar"]


def test_builder_builds_the_sidecar_in_its_own_invocation(builder):
    """Features unify across the packages of one cargo invocation: built with the handler, the sidecar gets the
    AWS SDK's (hyper's http2...) and grows by 0.5 MB. `-p extension` resolves them for the sidecar alone."""
    (run,) = [i for i in builder.of("RUN") if "cargo zigbuild" in i.value]
    bins = {}
    for args in zigbuild_invocations(run.value):
        built = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--bin"]
        for name in built:
            bins[name] = args
    assert sorted(bins) == ["bootstrap", "otel-sidecar"], bins
    sidecar = bins["otel-sidecar"]
    assert "--bin bootstrap" not in " ".join(sidecar), "the sidecar must not share the function's invocation"
    assert "-p extension" in " ".join(sidecar) or "--package extension" in " ".join(sidecar), sidecar
    assert "--workspace" not in sidecar and "--features" not in " ".join(sidecar), sidecar


def test_builder_caches_dependencies_per_architecture(builder):
    (run,) = [i for i in builder.of("RUN") if "cargo zigbuild" in i.value]
    assert "--mount=type=cache" in run.value and "target=/usr/local/cargo/registry" in run.value
    assert re.search(r"--mount=type=cache,id=[^,]*\$\{TARGETARCH\}[^ ]*,target=/src/target", run.value)


def test_builder_toolchain_matches_the_workspace(repo, stages):
    rust = next(s for s in stages if s.base.startswith("rust:"))
    version = re.match(r"rust:(\d+\.\d+\.\d+)", rust.base).group(1)
    workspace = (repo / "Cargo.toml").read_text()
    minimum = re.search(r'rust-version\s*=\s*"([\d.]+)"', workspace).group(1)
    assert tuple(map(int, version.split("."))) >= tuple(map(int, minimum.split("."))), (version, minimum)


def test_zig_pins_match_requirements_dev(repo, stages):
    (pip,) = [i for s in stages for i in s.of("RUN") if "pip install" in i.value]
    requirements = (repo / "requirements-dev.txt").read_text()
    for package in ("ziglang", "cargo-zigbuild"):
        pinned = re.search(rf"^{package}==(\S+)$", requirements, re.M).group(1)
        assert f"{package}=={pinned}" in pip.value, f"{package} differs between Dockerfile and requirements-dev.txt"
