#!/usr/bin/env bash
# The sidecar's OTLP/gRPC receiver is a cargo feature (off by default for binary size): build and test it
# here, with the OpenTelemetry Python SDK's gRPC exporter against the real binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
unset AWS_RUST_HTTP_API_RELEASE_DIR # the release build has no gRPC; use the one cargo builds with the feature
cargo test --locked -p extension --features grpc --test receiver_interop -- the_python_sdk_exporters_interoperate
