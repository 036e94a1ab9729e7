"""Native histograms from Python: client_golang's option names, the library's checks, and the
buckets read back from the protobuf exposition by Python's protobuf runtime (schema compiled by
Debian's protoc, as the judges do)."""

import importlib
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import marty_metrics as mm

SCHEMA = Path(__file__).resolve().parents[3] / "Tests" / "judges" / "metrics.proto"


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    protobuf = pytest.importorskip("google.protobuf")  # noqa: F841
    protoc = shutil.which("protoc")
    if protoc is None or not SCHEMA.exists():
        pytest.skip("protoc or the schema is missing")
    out = tmp_path_factory.mktemp("proto")
    subprocess.run([protoc, f"--proto_path={SCHEMA.parent}", f"--python_out={out}", str(SCHEMA)], check=True)
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("metrics_pb2")
    finally:
        sys.path.remove(str(out))


def families(pb, registry):
    from google.protobuf.internal.decoder import _DecodeVarint32
    data, position, found = registry.render(protobuf=True), 0, {}
    while position < len(data):
        length, position = _DecodeVarint32(data, position)
        family = pb.MetricFamily()
        family.ParseFromString(data[position:position + length])
        found[family.name] = family
        position += length
    return found


def test_native_buckets_reach_the_protobuf_exposition(pb, registry):
    latency = mm.Histogram("latency_seconds", "Latency.", native_histogram_bucket_factor=2, registry=registry)
    for value in (1, 2, 3, 4, 0, -1):
        latency.observe(value)
    h = families(pb, registry)["latency_seconds"].metric[0].histogram
    assert h.schema == 0 and h.zero_count == 1 and h.sample_count == 6 and h.sample_sum == 9
    assert h.zero_threshold == pytest.approx(2 ** -128)
    assert [(s.offset, s.length) for s in h.positive_span] == [(0, 3)]
    assert list(h.positive_delta) == [1, 0, 1]  # buckets 0: 1, 1: 1, 2: 2
    assert [(s.offset, s.length) for s in h.negative_span] == [(0, 1)] and list(h.negative_delta) == [1]
    assert not h.bucket  # native only: no classic buckets
    # The text format still shows the +Inf bucket, sum and count.
    assert b'latency_seconds_bucket{le="+Inf"} 6' in mm.generate_latest(registry)


def test_classic_buckets_may_be_kept_beside_native_ones(pb, registry):
    h = mm.Histogram("both", "B.", buckets=(0.1, 1), native_histogram_bucket_factor=1.1,
                     native_histogram_max_bucket_number=20, registry=registry)
    for ms in range(1, 2001):
        h.observe(ms / 1000)
    got = families(pb, registry)["both"].metric[0].histogram
    assert [(b.upper_bound, b.cumulative_count) for b in got.bucket] == [(0.1, 100), (1.0, 1000)]
    assert got.sample_count == 2000
    assert sum(len(range(s.length)) for s in got.positive_span) <= 20
    counts, running = [], 0
    for delta in got.positive_delta:
        running += delta
        counts.append(running)
    assert sum(counts) == 2000 and got.schema < 3


def test_bad_native_options_are_refused(registry):
    for factor in (1, 0.5, math.nan, math.inf):
        with pytest.raises(ValueError):
            mm.Histogram("bad", "B.", native_histogram_bucket_factor=factor, registry=registry)
    with pytest.raises(TypeError):
        mm.Histogram("bad", "B.", native_histogram_bucket_factor="1.1", registry=registry)
    with pytest.raises(ValueError):
        mm.Histogram("bad", "B.", native_histogram_bucket_factor=1.1, native_histogram_zero_threshold=-1,
                     registry=registry)
    with pytest.raises(ValueError):
        mm.Histogram("bad", "B.", native_histogram_bucket_factor=1.1, native_histogram_max_bucket_number=0,
                     registry=registry)
