"""What this machine offers for inference: CPU and CUDA capabilities and the
measured matrix-multiply rate of each precision.

:func:`hardware_report` is the one place the tools ask; it is measured once
per process and device (a short, interleaved measurement, a fraction of a
second) and then cached. Which precision ``--precision auto`` picks from a
report is :func:`mmseg_cbsa.utils.precision.auto_precision`.

The CPU flags come from ``/proc/cpuinfo`` (Linux, x86); elsewhere from
PyTorch's own CPU checks (``torch.cpu._is_*_supported``), where ``amx_bf16``
is taken from ``amx_tile`` (every CPU with AMX tiles so far has AMX-BF16) and
``avx512_fp16`` is unknown (False).
"""
import dataclasses
import functools
import os
import platform
import statistics
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .precision import PRECISIONS, device_type_of, precision_dtype

#: CPU flags that decide the fast paths: ``/proc/cpuinfo`` names. AVX2 and
#: AVX-512 carry float32; VNNI int8; the bf16 and fp16 flags (AVX-512 and AMX
#: tiles) multiply those types natively, without them oneDNN emulates them.
CPU_FLAGS = ('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_tile', 'amx_bf16', 'avx512_fp16',
             'amx_fp16')

#: precision -> CPU flags any one of which multiplies it natively
NATIVE_CPU_FLAGS = {'bf16': ('avx512_bf16', 'amx_bf16'), 'fp16': ('avx512_fp16', 'amx_fp16')}

#: precision -> lowest CUDA capability whose tensor cores multiply it
#: (fp16: Volta 7.0; bf16: Ampere 8.0); below it the type runs on the slower
#: general cores or is emulated
NATIVE_CUDA_CAPABILITY = {'fp16': (7, 0), 'bf16': (8, 0)}

#: threads of the CPU products of :func:`measure_matmul_rates`
CPU_MATMUL_THREADS = 1

#: the largest side of those products: three 256 x 256 float32 matrices
#: (768 KB) fit in a core's L2 cache (1 MB on this project's AMD EPYC). At 512
#: (3 MB) the other work of a loaded machine, sharing the L3, made float32
#: products 4x slower at the median here (best 93, median 24 GFLOP/s; bf16
#: 220 / 181), at 256 hardly (103 / 82; bf16 203 / 182)
CPU_MATMUL_SIDE = 256

#: the hardware columns of a benchmark CSV row (:meth:`HardwareReport.csv_fields`)
CSV_FIELDS = ('cpu', 'cpu_capability', 'cpu_flags', 'cuda_device', 'cuda_capability')

# where PyTorch's own checks stand in for /proc/cpuinfo (private helpers; absent -> False)
_TORCH_CPU_CHECKS = {
    'avx2': '_is_avx2_supported',
    'avx512f': '_is_avx512_supported',
    'avx512_vnni': '_is_vnni_supported',
    'avx512_bf16': '_is_avx512_bf16_supported',
    'amx_tile': '_is_amx_tile_supported',
    'amx_bf16': '_is_amx_tile_supported',
    'amx_fp16': '_is_amx_fp16_supported',
}


@dataclasses.dataclass(frozen=True)
class HardwareReport:
    """The machine as the precision choice and the benchmark see it.

    Attributes:
        cpu_model: the CPU's model name.
        cpu_capability: the instruction set PyTorch's CPU kernels dispatch to
            (``torch.backends.cpu.get_cpu_capability()``: 'DEFAULT', 'AVX2',
            'AVX512', ...).
        cpu_flags: every name of :data:`CPU_FLAGS` -> present.
        threads: ``torch.get_num_threads()`` of the process.
        cpus: ``os.cpu_count()``.
        load_average: the 1-minute load average when the rates were
            measured (None where the system has none): above ``cpus`` the
            rates may read low.
        cuda_device: the current CUDA device's name, or None.
        cuda_capability: its (major, minor) compute capability, or None.
        device: the device type the rates were measured on ('cpu', 'cuda').
        matmul_threads: the threads the rates were measured on (CPU:
            :data:`CPU_MATMUL_THREADS`).
        matmul_n: the precision -> side n of the (n x n) products timed.
        matmul_gflops: the precision -> measured rate in GFLOP/s
            (2 n^3 per product, the best of the timed products); empty if not
            measured.
        torch_version: ``torch.__version__``.
    """
    cpu_model: str
    cpu_capability: str
    cpu_flags: Dict[str, bool]
    threads: int
    cpus: int = 1
    load_average: Optional[float] = None
    cuda_device: Optional[str] = None
    cuda_capability: Optional[Tuple[int, int]] = None
    device: str = 'cpu'
    matmul_threads: int = CPU_MATMUL_THREADS
    matmul_n: Dict[str, int] = dataclasses.field(default_factory=dict)
    matmul_gflops: Dict[str, float] = dataclasses.field(default_factory=dict)
    torch_version: str = torch.__version__

    def native(self, precision: str, device: str = 'cpu') -> bool:
        """Whether ``device`` ('cpu' or 'cuda') multiplies ``precision``
        natively: float32 always; on the CPU bf16 / fp16 with one of
        :data:`NATIVE_CPU_FLAGS`, on CUDA from :data:`NATIVE_CUDA_CAPABILITY`."""
        if precision == 'float32':
            return True
        if device_type_of(device) == 'cuda':
            return (self.cuda_capability is not None
                    and tuple(self.cuda_capability) >= NATIVE_CUDA_CAPABILITY[precision])
        return any(self.cpu_flags.get(f, False) for f in NATIVE_CPU_FLAGS[precision])

    def missing(self, precision: str, device: str = 'cpu') -> str:
        """What ``device`` lacks to multiply ``precision`` natively, e.g.
        'no avx512_bf16/amx_bf16' or 'capability 7.5 < 8.0'; '' if native."""
        if self.native(precision, device):
            return ''
        if device_type_of(device) == 'cpu':
            return 'no ' + '/'.join(NATIVE_CPU_FLAGS[precision])
        if self.cuda_capability is None:
            return 'no CUDA device'
        need = NATIVE_CUDA_CAPABILITY[precision]
        return (f'capability {self.cuda_capability[0]}.{self.cuda_capability[1]} < '
                f'{need[0]}.{need[1]}')

    def speedup(self, precision: str, device: str = 'cpu') -> Optional[float]:
        """Measured rate of ``precision`` over float32's on ``device``; None
        where the report has no rates measured there."""
        if device_type_of(device) != self.device:
            return None
        rate, ref = self.matmul_gflops.get(precision), self.matmul_gflops.get('float32')
        return rate / ref if rate is not None and ref else None

    def as_dict(self) -> Dict:
        """Every field, JSON-ready (the capability as a list)."""
        out = dataclasses.asdict(self)
        if self.cuda_capability is not None:
            out['cuda_capability'] = list(self.cuda_capability)
        return out

    def csv_fields(self) -> Dict[str, str]:
        """Flat text fields for one CSV row: :data:`CSV_FIELDS` -> value."""
        cap = self.cuda_capability
        return dict(
            cpu=self.cpu_model,
            cpu_capability=self.cpu_capability,
            cpu_flags=' '.join(f for f in CPU_FLAGS if self.cpu_flags.get(f)),
            cuda_device=self.cuda_device or '',
            cuda_capability=f'{cap[0]}.{cap[1]}' if cap else '')

    def lines(self) -> List[str]:
        """The report as printed at the top of the tools' tables (3 lines)."""
        present = [f for f in CPU_FLAGS if self.cpu_flags.get(f)]
        absent = [f for f in CPU_FLAGS if not self.cpu_flags.get(f)]
        cuda = (f'CUDA {self.cuda_device} (capability '
                f'{self.cuda_capability[0]}.{self.cuda_capability[1]})'
                if self.cuda_device else 'no CUDA device')
        out = [
            f'hardware: {self.cpu_model}, {self.cpus} CPUs, {self.threads} threads, '
            f"PyTorch CPU capability {self.cpu_capability}; flags {' '.join(present) or '-'} "
            f"(not {' '.join(absent) or '-'}); {cuda}; torch {self.torch_version}"
        ]
        devices = ['cpu'] + (['cuda'] if self.cuda_device else [])
        out.append('native precisions: ' +
                   '; '.join(f"{d} {', '.join(p for p in PRECISIONS if self.native(p, d))}"
                             for d in devices))
        if self.matmul_gflops:
            rates = []
            for p, rate in self.matmul_gflops.items():
                ratio = self.speedup(p, self.device)
                rates.append(f'{p} {rate:.1f}' +
                             (f' ({ratio:.2f}x)' if p != 'float32' and ratio else ''))
            sizes = sorted(set(self.matmul_n.values()))
            on = (f'{self.device}, {self.matmul_threads} thread(s)'
                  if self.device == 'cpu' else self.device)
            load = ('' if self.load_average is None else
                    f'; load average {self.load_average:.1f} on {self.cpus} CPUs' +
                    (' (busy: rates may read low)' if self.load_average > self.cpus else ''))
            out.append(f'matrix-multiply rate on {on} ((n x n) products, n = '
                       f"{'/'.join(map(str, sizes))}, the fastest timed): " + ', '.join(rates) +
                       f' GFLOP/s{load}')
        return out


def parse_cpuinfo(text: str) -> Tuple[str, Dict[str, bool]]:
    """(model name, :data:`CPU_FLAGS` -> present) from ``/proc/cpuinfo``
    text; the first processor's entries (they are alike). Model '' and no
    flags if the text has none (e.g. not x86)."""
    model, flags = '', set()
    for line in text.splitlines():
        key, _, value = line.partition(':')
        key = key.strip()
        if key == 'model name' and not model:
            model = value.strip()
        elif key == 'flags' and not flags:
            flags = set(value.split())
    return model, {f: f in flags for f in CPU_FLAGS}


def _cpu_description() -> Tuple[str, Dict[str, bool]]:
    """(model, flags) of this machine's CPU (see the module's docstring)."""
    try:
        with open('/proc/cpuinfo') as f:
            model, flags = parse_cpuinfo(f.read())
    except OSError:
        model, flags = '', {}
    if not any(flags.values()):
        flags = {
            f: bool(getattr(torch.cpu, _TORCH_CPU_CHECKS.get(f, ''), lambda: False)())
            for f in CPU_FLAGS
        }
    return model or platform.processor() or platform.machine() or 'unknown CPU', flags


def synchronize(device: str) -> None:
    """Wait for ``device``'s queued work (CUDA); a no-op on the CPU."""
    if device_type_of(device) == 'cuda':
        torch.cuda.synchronize()


def _time_product(a: torch.Tensor, b: torch.Tensor) -> float:
    """Seconds of one ``a @ b``, synchronised."""
    synchronize(str(a.device))
    t = time.perf_counter()
    a @ b
    synchronize(str(a.device))
    return time.perf_counter() - t


def _matrices(n: int, device: str, precision: str) -> Tuple[torch.Tensor, torch.Tensor]:
    dtype = precision_dtype(precision) or torch.float32
    return (torch.randn(n, n, device=device,
                        dtype=dtype), torch.randn(n, n, device=device, dtype=dtype))


def matmul_rate(device: str = 'cpu',
                n: int = 2048,
                repeats: int = 5,
                precision: str = 'float32',
                limit_s: Optional[float] = 2.0) -> float:
    """Measured matrix-multiply rate in GFLOP/s (2 n^3 per product, the
    median of ``repeats`` after two untimed), of float32 matrices or, for
    ``precision`` 'bf16' / 'fp16', of matrices of that type (what autocast
    multiplies). The benchmark's per-round reference rate.

    ``limit_s``: a smaller side where one (n x n) product is predicted to
    take longer (:func:`_side`): emulated fp16 on a CPU multiplies at
    ~0.2 GFLOP/s, a minute per 2048 x 2048 product."""
    if limit_s is not None:
        n = _side(device, precision, n, limit_s)
    a, b = _matrices(n, device, precision)
    for _ in range(2):
        a @ b
    times = [_time_product(a, b) for _ in range(repeats)]
    return 2 * n**3 / statistics.median(times) / 1e9


def _side(device: str, precision: str, largest: int, limit_s: float) -> int:
    """The side n of the products to time: a power of two from 128, doubled
    while one product at the next size (8x the work) is predicted to take
    at most ``limit_s``, up to ``largest``. Each step is measured: emulated
    types slow down with size, so a small product does not predict a large one."""
    n = 128
    while n < largest:
        a, b = _matrices(n, device, precision)
        a @ b  # the first call pays for the library's set-up
        if 8 * min(_time_product(a, b) for _ in range(2)) > limit_s:
            break
        n *= 2
    return n


def measure_matmul_rates(device: str = 'cpu',
                         precisions: Sequence[str] = tuple(PRECISIONS),
                         budget_s: float = 0.3) -> Tuple[Dict[str, int], Dict[str, float]]:
    """A short measurement of every precision's matrix-multiply rate.

    float32 sets the side of the products (the largest power of two, up to
    :data:`CPU_MATMUL_SIDE` on the CPU and 4096 on CUDA, whose product is
    predicted to take at most 20 ms); the other precisions are timed at the same side unless one
    product would take more than 30 ms (emulated fp16 can be 100x slower),
    then at a smaller one (which only lowers their rate: never in favour of
    a reduced precision). The precisions take turns of 10 ms (at least one
    product) for ``budget_s`` (at least 3 products each), so that a change of
    the machine's load hits them alike, and each rate is that of its fastest product: on a
    shared machine the fastest is the one least disturbed. Short products
    give many tries: on a loaded machine the scheduler interrupts a long
    product more often than a short one, which would favour the faster type.

    On the CPU the products run on one thread (:data:`CPU_MATMUL_THREADS`):
    the ratio of two precisions' rates is the core's instruction set's, and a
    one-thread product does not wait on threads that a loaded machine has
    descheduled (with 2 threads on 2 busy cores a 128 x 128 float32 product
    took 40 ms here instead of 0.05 ms).

    Returns:
        (precision -> side n, precision -> GFLOP/s)
    """
    cuda = device_type_of(device) == 'cuda'
    threads = torch.get_num_threads()
    if not cuda:
        torch.set_num_threads(CPU_MATMUL_THREADS)
    try:
        n = _side(device, 'float32', 4096 if cuda else CPU_MATMUL_SIDE, 0.02)
        sides = {p: n if p == 'float32' else _side(device, p, n, 0.03) for p in precisions}
        mats = {p: _matrices(side, device, p) for p, side in sides.items()}
        times: Dict[str, List[float]] = {p: [] for p in precisions}
        start = time.perf_counter()
        while min(map(len, times.values())) < 3 or time.perf_counter() - start < budget_s:
            for p, (a, b) in mats.items():
                # products for >= 10 ms each turn: as many tries for a fast type as a slow one
                turn = time.perf_counter() + 0.01
                times[p].append(_time_product(a, b))
                while time.perf_counter() < turn:
                    times[p].append(_time_product(a, b))
    finally:
        torch.set_num_threads(threads)
    return sides, {p: 2 * sides[p]**3 / min(times[p]) / 1e9 for p in precisions}


def describe_hardware(device: str = 'cpu', measure: bool = True) -> HardwareReport:
    """A fresh :class:`HardwareReport`; with ``measure``, the matrix-multiply
    rates of every precision on ``device`` (:func:`measure_matmul_rates`)."""
    model, flags = _cpu_description()
    cuda_device = cuda_capability = None
    if torch.cuda.is_available():
        cuda_device = torch.cuda.get_device_name()
        cuda_capability = tuple(torch.cuda.get_device_capability())
    sides, rates = measure_matmul_rates(device) if measure else ({}, {})
    return HardwareReport(
        cpu_model=model,
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        cpu_flags=flags,
        threads=torch.get_num_threads(),
        cpus=os.cpu_count() or 1,
        load_average=os.getloadavg()[0] if hasattr(os, 'getloadavg') else None,
        cuda_device=cuda_device,
        cuda_capability=cuda_capability,
        device=device_type_of(device),
        matmul_threads=CPU_MATMUL_THREADS if device_type_of(device) == 'cpu' else 0,
        matmul_n=sides,
        matmul_gflops=rates)


@functools.lru_cache(maxsize=None)
def _cached_report(device_type: str) -> HardwareReport:
    return describe_hardware(device_type)


def hardware_report(device: str = 'cpu') -> HardwareReport:
    """This machine's :class:`HardwareReport` with the rates on ``device``'s
    type, measured on the first call of the process (per device type) and
    cached."""
    return _cached_report(device_type_of(device))
