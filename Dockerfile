# syntax=docker/dockerfile:1
#
# One Lambda container image: the function (`bootstrap`) and the OpenTelemetry sidecar (`otel-sidecar`, an external
# extension), on the AWS base image for custom runtimes, which also carries the Runtime Interface Emulator.
#
#   docker build --platform linux/arm64 -t aws-rust-http-api .                # arm64: what serverless.yml deploys
#   docker build --platform linux/amd64 -t aws-rust-http-api:amd64 .          # x86_64
#   docker run --rm -p 9000:8080 aws-rust-http-api:amd64                      # local Lambda (RIE) on :9000
# Without --platform, Docker builds for the machine it runs on (serverless.yml always passes linux/arm64).
#
# Both architectures are cross-compiled on the build machine's own platform (no QEMU) with cargo-zigbuild, against
# glibc 2.34, the glibc of Amazon Linux 2023: the binaries cannot pick up newer symbols from the build image.
# Requires BuildKit (Docker >= 23 uses it by default) for the cache mounts and `--chmod`.

ARG RUST_VERSION=1.95.0
ARG PYTHON_VERSION=3.13
# Pinned by tag and digest; bump both together (the digest is the multi-platform index).
ARG LAMBDA_BASE_IMAGE=public.ecr.aws/lambda/provided:al2023.2026.02.27.21@sha256:9ee3f032d4063febdf42a2a1f15149ce8358130753e48fcaf86eae731fab38ff

# --- zig + cargo-zigbuild, from PyPI wheels (the same pins as requirements-dev.txt) ----------------------------------
FROM --platform=$BUILDPLATFORM python:${PYTHON_VERSION}-slim-bookworm AS zig
RUN pip install --no-cache-dir --root-user-action=ignore --target /opt/zigpkg ziglang==0.17.0 cargo-zigbuild==0.24.0

# --- compile both binaries for $TARGETPLATFORM on $BUILDPLATFORM -----------------------------------------------------
FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-slim-bookworm AS build
ARG TARGETARCH
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    CARGO_ZIGBUILD_ZIG_PATH=/opt/zigpkg/ziglang/zig \
    PATH=/opt/zigpkg/bin:$PATH
COPY --from=zig /opt/zigpkg /opt/zigpkg
RUN rustup target add aarch64-unknown-linux-gnu x86_64-unknown-linux-gnu \
    && "$CARGO_ZIGBUILD_ZIG_PATH" version && cargo-zigbuild --version
WORKDIR /src
# The whole workspace (see .dockerignore): cargo needs every member's manifest to resolve Cargo.lock.
COPY . .
# Dependencies stay compiled between builds in the cache mounts (one target dir per architecture).
# The sidecar is built in its own cargo invocation: `-p extension` resolves features for it alone, so the
# function's (the AWS SDK turns on hyper's http2 and more) do not reach it (+0.5 MB otherwise).
RUN --mount=type=cache,id=cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=target-${TARGETARCH},target=/src/target,sharing=locked \
    case "$TARGETARCH" in \
      arm64) triple=aarch64-unknown-linux-gnu ;; \
      amd64) triple=x86_64-unknown-linux-gnu ;; \
      *) echo "unsupported TARGETARCH '$TARGETARCH' (Lambda runs arm64 and amd64)" >&2; exit 1 ;; \
    esac \
    && cargo zigbuild --release --locked --target "$triple.2.34" --bin bootstrap \
    && cargo zigbuild --release --locked --target "$triple.2.34" -p extension --bin otel-sidecar \
    && mkdir -p /out \
    && cp "target/$triple/release/bootstrap" "target/$triple/release/otel-sidecar" /out/

# --- the Lambda image ------------------------------------------------------------------------------------------------
FROM ${LAMBDA_BASE_IMAGE}
LABEL org.opencontainers.image.title="aws-rust-http-api" \
      org.opencontainers.image.description="Rust HTTP API for AWS Lambda with a built-in OpenTelemetry sidecar extension" \
      org.opencontainers.image.source="https://github.com/aws-rust-http-api/aws-rust-http-api" \
      org.opencontainers.image.licenses="MIT"
# The function: the provided.al2023 runtime executes ${LAMBDA_RUNTIME_DIR}/bootstrap (/var/runtime/bootstrap).
COPY --from=build --chmod=0755 /out/bootstrap ${LAMBDA_RUNTIME_DIR}/bootstrap
# The sidecar: Lambda starts every executable in /opt/extensions/ as an external extension.
COPY --from=build --chmod=0755 /out/otel-sidecar /opt/extensions/otel-sidecar
# The sidecar's pipeline configuration (its default OTEL_SIDECAR_CONFIG path); exporter endpoint and headers come
# from OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_HEADERS at run time, never from the image.
COPY --chmod=0644 otel-config.yaml /opt/otel-config.yaml
# The handler name is the entry point's required argument; a custom runtime ignores it.
CMD ["bootstrap"]
