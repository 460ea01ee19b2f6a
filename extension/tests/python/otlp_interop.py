"""Sends telemetry to the sidecar with the OpenTelemetry Python SDK's own OTLP exporters (HTTP and gRPC).

Plays the function's part for one invocation: a span over gRPC (if --grpc is given), then metrics and a span tree over
OTLP/HTTP protobuf (gzip), whose SERVER root span carries faas.invocation_id and ends last. Exits non-zero
if any exporter reports a failure.
"""

import argparse
import sys

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

failures = []


class Checked(SpanExporter):
    """Delegates to a real exporter and remembers failed exports."""

    def __init__(self, name, inner):
        self.name, self.inner = name, inner

    def export(self, spans):
        result = self.inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            failures.append(f"{self.name} span export: {result}")
        return result

    def shutdown(self):
        self.inner.shutdown()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", required=True, help="base URL, e.g. http://127.0.0.1:4318")
    parser.add_argument("--grpc", help="host:port, e.g. 127.0.0.1:4317 (omit when the sidecar has no gRPC receiver)")
    parser.add_argument("--invocation-id", required=True)
    args = parser.parse_args()
    resource = Resource.create({"service.name": "python-interop"})

    if args.grpc:
        grpc = TracerProvider(resource=resource)
        exporter = GrpcSpanExporter(endpoint=args.grpc, insecure=True, timeout=10)
        grpc.add_span_processor(SimpleSpanProcessor(Checked("grpc", exporter)))
        with grpc.get_tracer("interop").start_as_current_span("py-grpc-span"):
            pass
        grpc.shutdown()

    metric_exporter = OTLPMetricExporter(endpoint=f"{args.http}/v1/metrics", compression=Compression.Gzip, timeout=10)
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    meters.get_meter("interop").create_counter("py.requests").add(3, {"route": "/interop"})
    if not meters.force_flush(timeout_millis=10_000):
        failures.append("metric export")
    meters.shutdown()

    http = TracerProvider(resource=resource)
    exporter = HttpSpanExporter(endpoint=f"{args.http}/v1/traces", compression=Compression.Gzip, timeout=10)
    http.add_span_processor(SimpleSpanProcessor(Checked("http", exporter)))
    tracer = http.get_tracer("interop")
    with tracer.start_as_current_span("py-http-root", kind=SpanKind.SERVER, attributes={"faas.invocation_id": args.invocation_id}):
        with tracer.start_as_current_span("py-http-child", kind=SpanKind.CLIENT):
            pass
    http.shutdown()

    if failures:
        print("; ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
