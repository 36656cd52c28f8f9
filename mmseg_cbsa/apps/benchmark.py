"""Latency, memory and achieved FLOP rate of models, heads and attention layers.

Each measurement runs in a fresh subprocess (``python -m
mmseg_cbsa.apps.benchmark CASE_JSON``) so that peak memory and allocator
state of one case do not leak into the next. The suite of
``tools/analysis_tools/benchmark.py`` (cases x sizes x modes x rounds, and
the report) is :mod:`mmseg_cbsa.apps.benchmark_suite`; the authors' models
it times against ours are :mod:`mmseg_cbsa.apps.authors_code`.
"""
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper, build_optim_wrapper
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ..analysis.complexity import HeadCall, count_flops
from ..apis import build_model
from ..deployment.onnx import export_module, ort_session
from ..registry import MODELS, build_in_scope
from ..utils.hardware import synchronize
from ..utils.precision import autocast
from .authors_code import AuthorsDecoder, AuthorsEncoder, AuthorsTrainingEncoder, authors_folder


class TensorMemoryTracker(TorchDispatchMode):
    """Peak bytes of live tensors created inside the context.

    Every operator's outputs are followed by their storages until those are
    freed, so the peak is the activation memory the computation needs (saved
    tensors of a training step included), independent of the allocator: a
    CPU process's resident set also holds what glibc has not returned yet.
    Tensors that exist before entering (weights, inputs) are not counted;
    ``largest`` is the biggest single storage created.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live: Dict[int, Tuple[StorageWeakRef, int]] = {}
        self.current = self.peak = self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        # forget freed storages first: a new output may reuse their address
        for key, (ref, nbytes) in list(self.live.items()):
            if ref.expired():
                del self.live[key]
                self.current -= nbytes
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type != 'meta':
                storage = t.untyped_storage()
                if storage.data_ptr() not in self.live:
                    self.live[storage.data_ptr()] = (StorageWeakRef(storage), storage.nbytes())
                    self.current += storage.nbytes()
                    self.largest = max(self.largest, storage.nbytes())
        self.peak = max(self.peak, self.current)
        return out


class _SegmentorCall(nn.Module):

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, img):
        return self.model.decode_head(self.model.backbone(img))


class _LayerCall(nn.Module):

    def __init__(self, layer: nn.Module, hw: Tuple[int, int]) -> None:
        super().__init__()
        self.layer, self.hw = layer, hw

    def forward(self, x):
        return self.layer(x, self.hw)


class _OnnxFile(nn.Module):
    """An exported ``.onnx`` file run by onnxruntime (all its optimisations),
    called like the module it was exported from (one input, e.g. the
    ``img`` of ``tools/deployment/pytorch2onnx.py``)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.session = ort_session(path, 'all', threads=torch.get_num_threads())
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, img):
        return torch.from_numpy(self.session.run(None, {self.input_name: img.numpy()})[0])


def encoder_features(batch: int, dims: int, side: int) -> torch.Tensor:
    """(B, d, h, w) features laid out as the ViT backbone returns them: a
    view of its token-major (B, N, d) output, so heads pay no transpose copy
    that the real model would not pay."""
    return torch.randn(batch, side * side, dims).transpose(1, 2).reshape(batch, dims, side, side)


def build_case(case: Dict) -> Tuple[nn.Module, Tuple[torch.Tensor, ...], int]:
    """(module, inputs, patch tokens) for a case description.

    Kinds: ``config`` (``part`` 'model', 'head' or 'backbone'), ``layer`` (an
    attention type with its kwargs), ``authors`` (the authors' CBT decoder)
    and ``authors_encoder`` (one of the authors' classifiers without its
    head, ``model`` a constructor of their ``models.py``; with ``mode``
    'train', their training forward: :class:`AuthorsTrainingEncoder`);
    both need ``root``,
    a checkout of their repository
    (:func:`~mmseg_cbsa.apps.authors_code.authors_folder`); ``onnx`` (an
    exported ``file`` run by onnxruntime on (batch, 3, size, size) inputs).

    Tokens: ``ceil(size / patch)`` squared, with the backbone's patch size
    for ``config`` cases and ``case['patch_size']`` (default 16) otherwise.
    """
    size, batch = case['size'], case.get('batch', 1)
    # patch tokens per side: the model's own patch size for configs, else the
    # case's (16 by default); a partial patch is a token (ceil), as in the encoders
    side = -(-size // case.get('patch_size', 16))
    if case['kind'] == 'config':
        # the caller seeds; parameter values do not change the timings
        model = build_model(case['config'], seed=None, init_weights=False).model
        patch = getattr(model.backbone, 'patch_size', None)
        if isinstance(patch, int):
            side = -(-size // patch)
        part = case.get('part', 'head')
        if part == 'head':
            dims = model.backbone.embed_dims
            return HeadCall(model.decode_head), (encoder_features(batch, dims, side), ), side**2
        img = (torch.randn(batch, 3, size, size), )
        if part == 'backbone':
            return model.backbone, img, side**2
        return _SegmentorCall(model), img, side**2
    if case['kind'] == 'layer':
        kwargs = dict(case['layer'])
        extra = kwargs.pop('extra_tokens', 0)
        layer = build_in_scope(MODELS, kwargs)
        x = torch.randn(batch, side * side + extra, kwargs['embed_dims'])
        return _LayerCall(layer, (side, side)), (x, ), side**2
    if case['kind'] == 'authors':
        model = AuthorsDecoder(
            authors_folder(case['root'], 'segmentation'), case.get('dims', 384),
            case.get('num_classes', 150))
        return model, (encoder_features(batch, case.get('dims', 384), side), ), side**2
    if case['kind'] == 'onnx':
        return _OnnxFile(case['file']), (torch.randn(batch, 3, size, size), ), side**2
    if case['kind'] == 'authors_encoder':
        model = AuthorsEncoder(authors_folder(case['root'], 'classification'), case['model'], size)
        if case.get('mode') == 'train':
            model = AuthorsTrainingEncoder(model)
        return model, (torch.randn(batch, 3, size, size), ), side**2
    raise ValueError(f"unknown case kind '{case['kind']}'")


#: what ``case['backend']`` may name (:func:`backend_call`)
BACKENDS = ('eager', 'compile', 'ort', 'ort-opt')


def backend_call(module: nn.Module,
                 inputs: Tuple[torch.Tensor, ...],
                 backend: str,
                 mode: str = 'infer',
                 precision: str = 'float32',
                 device: str = 'cpu'):
    """A no-argument callable running ``module(*inputs)`` on ``backend``.

    * ``eager``: the module itself;
    * ``compile``: ``torch.compile(module)`` (inductor; compiled on the first
      call, under the caller's autocast);
    * ``ort``: the module exported to ONNX (torch.onnx's dynamo exporter,
      at these input sizes) and run by onnxruntime with its basic graph
      optimisations only (constant folding, redundant nodes removed);
    * ``ort-opt``: the same graph with all of onnxruntime's optimisations
      (its fusions and layout changes, onnxruntime's default).

    onnxruntime runs inference in float32 on the CPU only.
    """
    if backend == 'eager':
        return lambda: module(*inputs)
    if backend == 'compile':
        compiled = torch.compile(module)
        return lambda: compiled(*inputs)
    if backend in ('ort', 'ort-opt'):
        if mode != 'infer' or precision != 'float32' or device != 'cpu':
            raise ValueError(f'backend {backend} runs float32 inference on the CPU only, '
                             f'not {mode} in {precision} on {device}')
        with tempfile.TemporaryDirectory() as tmp:
            path = export_module(module, inputs, os.path.join(tmp, 'case.onnx'))
            session = ort_session(
                path, 'all' if backend == 'ort-opt' else 'basic', threads=torch.get_num_threads())
        feeds = {f'input{i}': t.numpy() for i, t in enumerate(inputs)}
        return lambda: session.run(None, feeds)
    raise ValueError(f"unknown backend '{backend}', expected one of {BACKENDS}")


#: the optimiser of a training step where no config gives one (attention
#: layers, the authors' encoders): AdamW, as most of our configs train with
DEFAULT_OPTIM_WRAPPER = dict(
    type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05))


def build_train_optimizer(case: Dict, module: nn.Module) -> OptimWrapper:
    """The optimiser wrapper of a training case, over ``module``'s parameters only.

    A ``config`` case gets its config's own ``optim_wrapper`` (optimiser
    type, hyper-parameters, gradient clipping, ``paramwise_cfg``), built by
    mmengine's :func:`~mmengine.optim.build_optim_wrapper` as the Runner
    builds it, on the timed part under the name it has in the whole model
    (``backbone.*``, ``decode_head.*``, or the segmentor's own names), so that
    ``paramwise_cfg`` keys match as in training; the parts not timed have no
    parameters in it. Any other case gets :data:`DEFAULT_OPTIM_WRAPPER`
    (AdamW).

    Args:
        case: as for :func:`build_case`.
        module: the module :func:`build_case` returned for ``case``.
    """
    if case['kind'] != 'config':
        return build_optim_wrapper(module, DEFAULT_OPTIM_WRAPPER)
    part = case.get('part', 'head')
    if part == 'model':
        root = module.model  # the segmentor inside _SegmentorCall
    elif part == 'head':
        root = nn.ModuleDict({'decode_head': module.head})
    else:
        root = nn.ModuleDict({'backbone': module})
    # build_model set the config's default scope: its registries (e.g.
    # mmpretrain's optimisers for the classifiers) resolve the type
    return build_optim_wrapper(root, Config.fromfile(case['config']).optim_wrapper)


#: the fixed directions of :func:`training_loss`, one per output shape and device
_LOSS_DIRECTIONS: Dict[Tuple, torch.Tensor] = {}


def training_loss(out: Any) -> torch.Tensor:
    """A stand-in loss, ``sum_t mean(t * R_t)`` over every output ``t`` that
    needs a gradient (a tensor, or each of the stages an encoder returns), in
    float32, with ``R_t`` a fixed standard-normal tensor of ``t``'s shape
    (drawn once per shape, seed 0).

    Its gradient ``R_t / numel(t)`` reaches every parameter the outputs
    depend on; the plain mean's would vanish behind a final LayerNorm (the
    mean of a normalised vector is its bias's), leaving the optimiser
    nothing but weight decay to apply.
    """
    loss = 0
    for t in tree_leaves(out):
        if isinstance(t, torch.Tensor) and t.requires_grad:
            key = (tuple(t.shape), str(t.device))
            if key not in _LOSS_DIRECTIONS:
                gen = torch.Generator().manual_seed(0)
                _LOSS_DIRECTIONS[key] = torch.randn(t.shape, generator=gen).to(t.device)
            loss = loss + (t.float() * _LOSS_DIRECTIONS[key]).mean()
    return loss


def training_step(optim_wrapper: OptimWrapper,
                  run: Callable[[], Any],
                  device: str = 'cpu',
                  precision: str = 'float32') -> None:
    """One training step as mmengine's training loop takes it: ``run()`` (the
    forward pass, under autocast for 'bf16' / 'fp16'), then the wrapper's
    ``update_params`` on :func:`training_loss`: backward, gradient clipping
    where configured, the optimiser's step, and the gradients zeroed."""
    with autocast(device, precision):
        out = run()
    optim_wrapper.update_params(training_loss(out))


def optimizer_state_bytes(optim_wrapper: OptimWrapper) -> int:
    """Bytes of the optimiser's state tensors (AdamW: two moments and a step
    count per parameter; SGD with momentum: one buffer; Lion: one)."""
    return sum(t.untyped_storage().nbytes() for state in optim_wrapper.optimizer.state.values()
               for t in state.values() if isinstance(t, torch.Tensor))


def _rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def measure(case: Dict) -> Dict:
    """Run one case in this process: peak memory of one call, then the median
    of ``repeats`` timed calls after ``warmup`` untimed ones.

    A call is an inference forward pass (``case['mode']`` 'infer', under
    ``torch.no_grad``) or a training step ('train'): forward, backward of
    :func:`training_loss`, the optimiser's step and the gradients zeroed, all
    through the optimiser wrapper's ``update_params`` as mmengine's training
    loop calls it (:func:`build_train_optimizer`: the config's optimiser, or
    AdamW). A training case first runs one untimed step, which creates the
    optimiser's state (moments, momentum buffers), so that the measured step
    and the timed ones are the steady state; its peak memory counts that
    state: the growth over the model and inputs alone (CUDA: allocator peak;
    CPU: peak resident set, where with ``compile`` the compilation's memory
    is in it too), and the live tensors of the step plus the state's
    (``optimizer_state_mb``, also reported alone, with the ``optimizer``'s
    type).

    ``case['precision']`` (default 'float32'): 'bf16' or 'fp16' runs the
    forward pass under ``torch.autocast`` to that type (weights, gradients and
    the optimiser's state stay float32; the backward follows the forward's
    types). ``case['backend']`` (default 'eager'): see :func:`backend_call`."""
    device, mode = case.get('device', 'cpu'), case.get('mode', 'infer')
    precision = case.get('precision', 'float32')
    backend = case.get('backend', 'eager')
    torch.manual_seed(0)
    module, inputs, tokens = build_case(case)
    module = module.to(device).train(mode == 'train')
    # .to() keeps the strides of the token-major feature views
    inputs = tuple(t.to(device) for t in inputs)
    run = backend_call(module, inputs, backend, mode, precision, device)
    optim_wrapper = build_train_optimizer(case, module) if mode == 'train' else None

    def step() -> None:
        if optim_wrapper is not None:
            training_step(optim_wrapper, run, device, precision)
        elif backend.startswith('ort'):
            run()
        else:
            with torch.no_grad(), autocast(device, precision):
                run()

    if backend == 'compile' and optim_wrapper is None:
        step()  # compiles: neither the compile time nor its memory belong to a call
    # memory grows from here: the optimiser's state created below is counted
    cuda = device.startswith('cuda')
    base = torch.cuda.memory_allocated() if cuda else _rss_mb()
    if optim_wrapper is not None:
        step()  # creates the optimiser's state (and compiles, for compile)
    state = optimizer_state_bytes(optim_wrapper) if optim_wrapper is not None else 0
    tracker = TensorMemoryTracker()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        with tracker:
            step()
        synchronize(device)
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        with tracker:
            step()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    # onnxruntime's buffers are outside PyTorch: no tensor count
    outside = backend.startswith('ort') or case['kind'] == 'onnx'
    # the state existed before the tracked step, so the tracker did not see it
    tensor_mb = float('nan') if outside else (tracker.peak + state) / 2**20
    for _ in range(case.get('warmup', 2)):
        step()
    synchronize(device)
    times = []
    for _ in range(case.get('repeats', 5)):
        t = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - t)
    # an exported file has no PyTorch module to count
    macs = float('nan') if case['kind'] == 'onnx' else _count_or_nan(module.eval(), inputs)
    latency = statistics.median(times)
    # backward ~ 2x forward; the optimiser's elementwise update is not counted
    flops = 2 * macs * (3 if mode == 'train' else 1)
    return dict(
        tokens=tokens,
        latency_ms=1e3 * latency,
        throughput=inputs[0].shape[0] / latency,
        peak_mem_mb=max(peak, 0.0),
        peak_tensor_mb=tensor_mb,
        optimizer=type(optim_wrapper.optimizer).__name__ if optim_wrapper is not None else '',
        optimizer_state_mb=state / 2**20 if optim_wrapper is not None else float('nan'),
        gflops=flops / 1e9,
        achieved_gflops_per_s=flops / latency / 1e9)


def _count_or_nan(module: nn.Module, inputs: tuple) -> float:
    """mmengine's count of the forward's multiply-adds, or NaN where tracing
    runs out of memory: the trace keeps every intermediate of the whole
    model (6.3 GB for MiTA's ViT-S at 1024 px, whose forward peaks at
    1.4 GB), and the case's timing, measured before, is kept."""
    try:
        return count_flops(module, *inputs)
    except (MemoryError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and not any(m in str(e) for m in OUT_OF_MEMORY):
            raise
        print(
            f'FLOPs not counted: the trace ran out of memory ({type(e).__name__})', file=sys.stderr)
        return float('nan')


def fit_exponent(tokens: List[int], latency: List[float]) -> float:
    """Least-squares slope of log(latency) against log(tokens)."""
    xs, ys = [math.log(t) for t in tokens], [math.log(v) for v in latency]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx)**2 for x in xs)


# glibc hands large freed blocks back to the kernel, so every forward pass
# page-faults its activations in again (~4 us per 4 KiB page here); these
# tunables keep freed memory in the process, as PyTorch's CUDA allocator does.
KEEP_FREED_MEMORY = 'glibc.malloc.trim_threshold=17179869184:glibc.malloc.mmap_threshold=33554432'

#: what a case that ran out of memory leaves on stderr (PyTorch's CPU
#: allocator, Python, the C++ runtime)
OUT_OF_MEMORY = ("can't allocate memory", 'MemoryError', 'std::bad_alloc', 'Cannot allocate memory',
                 'CUDA out of memory')


def run_isolated(case: Dict,
                 python: str = sys.executable,
                 keep_freed_memory: bool = False,
                 memory_limit_gb: Optional[float] = None) -> Dict:
    """:func:`measure` in a fresh interpreter; returns its JSON result.

    ``keep_freed_memory`` starts it with :data:`KEEP_FREED_MEMORY` as
    ``GLIBC_TUNABLES`` (read by glibc only at process start).
    ``memory_limit_gb`` caps the interpreter's address space
    (``RLIMIT_AS``, which also counts the ~3-4 GB of libraries a PyTorch
    process maps); a case that runs out of it returns
    ``{'out_of_memory': True}``, so that a run can show the size at which
    a model no longer fits. Any other failure returns ``{'failed': last
    line of stderr, 'stderr': its tail}`` (e.g. a case onnxruntime cannot
    run), for the caller to report.
    """
    env = dict(os.environ)
    if keep_freed_memory:
        env['GLIBC_TUNABLES'] = KEEP_FREED_MEMORY

    def limit() -> None:
        size = int(memory_limit_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    res = subprocess.run([python, '-m', 'mmseg_cbsa.apps.benchmark',
                          json.dumps(case)],
                         capture_output=True,
                         text=True,
                         env=env,
                         preexec_fn=limit if memory_limit_gb else None)
    if res.returncode != 0:
        if memory_limit_gb and any(s in res.stderr for s in OUT_OF_MEMORY):
            return dict(out_of_memory=True)
        lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
        return dict(
            failed=lines[-1] if lines else f'exit status {res.returncode}',
            stderr=res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


if __name__ == '__main__':
    torch.set_num_threads(torch.get_num_threads())
    print(json.dumps(measure(json.loads(sys.argv[1]))))
