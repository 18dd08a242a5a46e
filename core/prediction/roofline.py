"""Roofline lower bounds on latency, per layer, for devices we do not have (and for this host).

A layer cannot finish faster than its FLOPs at the device's peak, nor faster than its bytes at the
device's memory bandwidth: its bound is the larger of the two, and it is memory-bound when the bytes
term wins. Depthwise convolutions do few MACs per byte moved, so on every device they sit under the
bandwidth roof. These are bounds from published peaks, never measurements.

Bytes moved per layer: weights once per batch, the input and output feature maps once per image
(``layer_traffic``). Channel alignment: a layer whose channels are not a multiple of the device's
lane width (vector register or tensor-core tile) pads them, and the padded MACs are wasted work.
Torch-free and streamlit-free: the web page calls this on every slider move.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from core.network.counting import DTYPE_BYTES, LAYER_COLUMNS
from core.network.scaling import ScalingError

DEVICES_CSV = Path(__file__).resolve().parents[2] / "assets" / "devices" / "devices.csv"
HOST = "host"
_COLUMN = {name: index for index, name in enumerate(LAYER_COLUMNS)}


@dataclass(frozen=True)
class Device:
    """Peak FLOP/s per dtype (None where no source gives it), DRAM bandwidth and lane widths, with the source."""

    name: str
    title: str
    kind: str
    peak_flops: dict[str, float | None]
    bandwidth: float  # bytes per second
    lanes: dict[str, int | None]
    source_url: str
    source_says: str
    derived: str

    def peak(self, dtype: str) -> float:
        """Peak FLOP/s at ``dtype``; ``ScalingError`` naming the dtypes it has where none is given."""
        value = self.peak_flops.get(dtype)
        if not value:
            known = ", ".join(name for name, flops in self.peak_flops.items() if flops)
            raise ScalingError(f"{self.name} has no peak figure for {dtype}: use one of {known}")
        return value


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


def load_devices(path: Path = DEVICES_CSV) -> dict[str, Device]:
    """The device table; a row without an http(s) source URL or without what the source says is refused."""
    devices = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            urls = [url.strip() for url in (row.get("source_url") or "").split("|")]
            sourced = all(url.startswith(("https://", "http://")) for url in urls)
            if not sourced or not (row.get("source_says") or "").strip():
                raise ValueError(f"device {row.get('name')!r} in {path.name} has no source: every row needs "
                                 "source_url (http...) and source_says")
            devices[row["name"]] = Device(
                name=row["name"], title=row["title"], kind=row["kind"],
                peak_flops={dtype: None if (value := _number(row[f"peak_gflops_{dtype}"] or "")) is None
                            else value * 1e9 for dtype in DTYPE_BYTES},
                bandwidth=float(row["bandwidth_gbs"]) * 1e9,
                lanes={dtype: None if (value := _number(row[f"lanes_{dtype}"] or "")) is None else int(value)
                       for dtype in DTYPE_BYTES},
                source_url=row["source_url"], source_says=row["source_says"], derived=row["derived"])
    return devices


@cache
def published_devices() -> dict[str, Device]:
    """The shipped table, read once per process."""
    return load_devices()


def device_names() -> tuple[str, ...]:
    """'host' first, then the table's devices: the values ``--device`` and the ``target`` link key take."""
    return (HOST, *published_devices())


def target_device_title(name: str) -> str:
    """A device's name for people: the table's title, or this host's."""
    return "This host (calibrated model)" if name == HOST else published_devices()[name].title


@cache
def host_lanes() -> dict[str, int]:
    """Lane widths of this CPU's widest vector extension (AVX-512: 512 bits, AVX2: 256, else 128)."""
    bits = 128
    try:
        with open("/proc/cpuinfo") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "").split()
        bits = 512 if "avx512f" in flags else 256 if "avx2" in flags else 128
    except OSError:
        pass
    return {dtype: bits // (8 * size) for dtype, size in DTYPE_BYTES.items()}


def host_device(peak_flops_float32: float, bandwidth: float, peak_flops: dict[str, float] | None = None) -> Device:
    """This host as measured by ``core.calibrate``: a large matmul and a large copy."""
    peaks = {dtype: None for dtype in DTYPE_BYTES}
    peaks.update(peak_flops or {})
    peaks["float32"] = peak_flops_float32
    return Device(name=HOST, title="This host (measured)", kind="cpu", peak_flops=peaks, bandwidth=bandwidth,
                  lanes=host_lanes(), source_url="", source_says="measured by core.calibrate on this host: "
                  "a large float32 matmul (peak FLOP/s) and a large tensor copy (bandwidth, read + write)",
                  derived="")


def layer_traffic(row: tuple, batch: int, dtype_bytes: int) -> int:
    """Bytes one layer moves for a batch: its weights once, its input and output feature maps per image."""
    kind = row[_COLUMN["type"]]
    out_channels, size = row[_COLUMN["out_channels"]], row[_COLUMN["output_size"]]
    output = row[_COLUMN["activation_bytes"]]  # per image, already at dtype_bytes
    weights = row[_COLUMN["params"]] * dtype_bytes
    width = row[len(LAYER_COLUMNS)] if len(row) > len(LAYER_COLUMNS) else size  # task rows: height, then width
    if kind in ("conv", "dwconv", "maxpool"):
        stride = row[_COLUMN["stride"]]
        channels = out_channels if kind == "maxpool" else row[_COLUMN["in_channels"]]
        inputs = channels * size * stride * width * stride * dtype_bytes
    elif kind in ("se_conv", "linear"):
        inputs = row[_COLUMN["in_channels"]] * dtype_bytes
    elif kind == "avgpool":  # the kernel is the whole feature map
        inputs = out_channels * row[_COLUMN["kernel"]] ** 2 * dtype_bytes
    elif kind in ("residual_add", "add", "mul"):
        inputs = 2 * output
    else:  # se_scale: reads the feature map (and a vector), writes it rescaled; upsampling: at most as much
        inputs = output
    return weights + (inputs + output) * batch


def _padded(channels: int, lanes: int) -> int:
    return math.ceil(channels / lanes) * lanes


def padded_macs(row: tuple, lanes: int | None) -> int:
    """MACs once channels are padded to the lane width (blocked layouts pad input and output channels).

    Depthwise layers pad their channels once; dense layers pad channels per group in and out.
    """
    macs = row[_COLUMN["macs"]]
    if not lanes or not macs:
        return macs
    inp, out, groups = row[_COLUMN["in_channels"]], row[_COLUMN["out_channels"]], row[_COLUMN["groups"]]
    if row[_COLUMN["type"]] == "dwconv":
        return macs * _padded(out, lanes) // out
    per_group = inp // groups
    return macs * _padded(per_group, lanes) * _padded(out, lanes) // (per_group * out)


@dataclass(frozen=True)
class LayerBound:
    """One layer on the roofline: a lower bound on its time, never a measurement."""

    name: str
    type: str
    flops: int
    bytes: int
    intensity: float  # FLOPs per byte
    attainable_flops: float  # FLOP/s the roof allows at this intensity
    time_s: float
    bound: str  # "compute" or "memory"
    padded_macs: int


def roofline_layers(rows: tuple, batch: int, dtype: str, device: Device) -> list[LayerBound]:
    """Every layer's bound on ``device``: max(FLOPs / peak, bytes / bandwidth); they sum to the network's."""
    peak, bandwidth = device.peak(dtype), device.bandwidth
    lanes = device.lanes.get(dtype)
    size = DTYPE_BYTES[dtype]
    layers = []
    for row in rows:
        flops = 2 * row[_COLUMN["macs"]] * batch
        moved = layer_traffic(row, batch, size)
        compute_s, memory_s = flops / peak, moved / bandwidth
        intensity = flops / moved if moved else 0.0
        layers.append(LayerBound(
            name=row[_COLUMN["name"]], type=row[_COLUMN["type"]], flops=flops, bytes=moved, intensity=intensity,
            attainable_flops=min(peak, intensity * bandwidth), time_s=max(compute_s, memory_s),
            bound="compute" if compute_s >= memory_s else "memory", padded_macs=padded_macs(row, lanes) * batch))
    return layers


def ridge_point(device: Device, dtype: str) -> float:
    """FLOPs per byte where the bandwidth roof meets the compute roof."""
    return device.peak(dtype) / device.bandwidth
