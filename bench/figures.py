"""The arithmetic of the benchmark: steady-state throughput from two runs, and projected Dataflow cost. Pure.

Steady state: every system has a start-up cost (imports, TensorFlow, loading the model, starting worker
processes) that a whole bucket pays once. Running it on n1 and then n2 > n1 photos and taking
(n2 - n1) / (t2 - t1) cancels that cost out, leaving what each further photo costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SteadyState:
    """Throughput once started, from runs over n1 and n2 photos taking t1 and t2 seconds."""

    images_per_s: float | None  # None when t2 <= t1: the runs were too noisy to tell
    startup_s: float | None  # the fixed cost: t1 less the time n1 photos take at the steady rate
    cpu_s_per_image: float | None  # (c2 - c1) / (n2 - n1) from the CPU times, when given


def steady_state(
    n1: int, t1: float, n2: int, t2: float, c1: float | None = None, c2: float | None = None
) -> SteadyState:
    """Steady-state images per second from two runs of sizes n1 < n2 (seconds t1, t2; CPU seconds c1, c2)."""
    if not 0 < n1 < n2:
        raise ValueError(f"need 0 < n1 < n2, got n1={n1}, n2={n2}")
    cpu = None if c1 is None or c2 is None else (c2 - c1) / (n2 - n1)
    if t2 <= t1:
        return SteadyState(None, None, cpu)
    rate = (n2 - n1) / (t2 - t1)
    return SteadyState(rate, t1 - n1 / rate, cpu)


def inrun_rate(timestamps: Sequence[float], low: float = 0.1, high: float = 0.9) -> float | None:
    """Images per second inside one run, from the times at which its photos were scored: photos
    between the `low` and `high` quantiles over the time between them. Start-up and the last
    stragglers fall outside, so this needs no second run; it only sees the stages up to the
    time stamp (not the final Parquet write)."""
    times = sorted(timestamps)
    first, last = int(len(times) * low), int(len(times) * high) - 1
    if last <= first or times[last] <= times[first]:
        return None
    return (last - first) / (times[last] - times[first])


def rounded(value: float | None, digits: int = 2) -> float | None:
    """`value` rounded, None kept (a figure that could not be told)."""
    return None if value is None else round(value, digits)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


@dataclass(frozen=True)
class DataflowPrices:
    """ASSUMED list prices, USD, Dataflow batch workers in us-central1 (not Dataflow Prime, no discounts):
    the figures Beam 2.77 itself uses (apache_beam/testing/load_tests/dataflow_cost_consts.py).
    Check https://cloud.google.com/dataflow/pricing before relying on them."""

    vcpu_hour: float = 0.056
    memory_gb_hour: float = 0.003557
    standard_pd_gb_hour: float = 0.000054
    shuffle_gb: float = 0.011  # Dataflow Shuffle, batch, per GB processed
    gcs_class_b_per_1000: float = 0.0004  # one GET per photo, Standard storage


@dataclass(frozen=True)
class WorkerShape:
    """A Dataflow worker machine: Dataflow bills its vCPUs, memory and boot disk per second."""

    name: str
    vcpus: int
    memory_gb: float
    disk_gb: float = 25.0  # Dataflow's default boot disk for batch jobs that use Dataflow Shuffle


N1_STANDARD_4 = WorkerShape("n1-standard-4", 4, 15.0)


def dataflow_cost_per_million(
    images_per_s_per_vcpu: float,
    *,
    worker: WorkerShape = N1_STANDARD_4,
    prices: DataflowPrices = DataflowPrices(),
    shuffle_bytes_per_image: float = 600.0,
    photos: int = 1_000_000,
) -> dict:
    """Projected cost of scoring `photos` photos on CPU workers at the measured throughput per vCPU.

    Assumes Dataflow's vCPU does what one core here does, workers kept busy from start to end (no boot,
    autoscaling or straggler time), and that the shuffles carry only URIs and result rows (~600 B a photo).
    """
    vcpu_hours = photos / images_per_s_per_vcpu / 3600.0
    worker_hours = vcpu_hours / worker.vcpus
    cpu = vcpu_hours * prices.vcpu_hour
    memory = worker_hours * worker.memory_gb * prices.memory_gb_hour
    disk = worker_hours * worker.disk_gb * prices.standard_pd_gb_hour
    shuffle = photos * shuffle_bytes_per_image / 1e9 * prices.shuffle_gb
    reads = photos / 1000.0 * prices.gcs_class_b_per_1000
    total = cpu + memory + disk + shuffle + reads
    return {
        "photos": photos,
        "images_per_s_per_vcpu": round(images_per_s_per_vcpu, 2),
        "worker": asdict(worker),
        "vcpu_hours": round(vcpu_hours, 2),
        "worker_hours": round(worker_hours, 2),
        "usd": {
            "vcpu": round(cpu, 2),
            "memory": round(memory, 2),
            "disk": round(disk, 3),
            "shuffle": round(shuffle, 3),
            "gcs_reads": round(reads, 2),
            "total": round(total, 2),
        },
        "prices_assumed": asdict(prices),
    }
