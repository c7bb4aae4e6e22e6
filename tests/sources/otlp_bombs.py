"""OTLP protobuf bodies written by hand for the receiver's limits: the SDK would not build a bomb.

Each is a raw (unpacked) export request; a test or bench gzips it as a sender would."""

from __future__ import annotations


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field ``number`` holding ``payload``."""
    size, length = len(payload), b""
    while size >= 0x80:
        length += bytes([size & 0x7F | 0x80])
        size >>= 7
    return bytes([number << 3 | 2]) + length + bytes([size]) + payload


def empty_records(count: int) -> bytes:
    """An export request of one resource, one scope and ``count`` empty records: log records for
    ``/v1/logs``, spans for ``/v1/traces`` (the same field numbers: resource_*.scope_*.*)."""
    return field(1, field(2, b"\x12\x00" * count))


def exponential_points(buckets: bytes) -> bytes:
    """A metrics request of one exponential histogram point whose positive buckets are ``buckets``."""
    point = field(8, buckets)  # ExponentialHistogramDataPoint.positive
    metric = field(10, field(1, point))  # Metric.exponential_histogram.data_points
    return field(1, field(2, field(2, metric)))  # resource_metrics.scope_metrics.metrics
