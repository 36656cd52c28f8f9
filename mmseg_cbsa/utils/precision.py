"""Reduced-precision inference: autocast around a model's forward passes.

One vocabulary for the tools: ``'float32'`` (no autocast), ``'bf16'``
(``torch.autocast`` to bfloat16) and ``'fp16'`` (to float16), on the device
type the model's parameters are on (CPU or CUDA). Weights stay float32;
autocast runs matrix products and the other ops on its lists in the low
precision. What a test or a demo hands on (logits, label maps) is float32
again (:func:`outputs_to_float32`).
"""
import contextlib
from typing import Iterable, Optional, Union

import torch
from torch import nn

#: precision name -> autocast dtype (None: float32, no autocast)
PRECISIONS = {'float32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}

_ALIASES = {'fp32': 'float32', 'bfloat16': 'bf16', 'float16': 'fp16', 'half': 'fp16'}


def precision_dtype(precision: Union[str, torch.dtype, None]) -> Optional[torch.dtype]:
    """The autocast dtype of a precision name (or dtype); None for float32."""
    if precision is None or precision == torch.float32:
        return None
    if isinstance(precision, torch.dtype):
        if precision not in PRECISIONS.values():
            raise ValueError(f'unsupported autocast dtype {precision}')
        return precision
    name = _ALIASES.get(precision, precision)
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}': use one of {list(PRECISIONS)}")
    return PRECISIONS[name]


def device_type_of(model_or_device: Union[nn.Module, torch.device, str]) -> str:
    """'cpu' or 'cuda': where a model's parameters are, or a device's type."""
    if isinstance(model_or_device, nn.Module):
        param = next(model_or_device.parameters(), None)
        return param.device.type if param is not None else 'cpu'
    return torch.device(model_or_device).type


def autocast(model_or_device: Union[nn.Module, torch.device, str],
             precision: Union[str, torch.dtype, None] = 'float32'):
    """``torch.autocast`` to ``precision`` on the model's device type; a
    no-op context for float32."""
    dtype = precision_dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type_of(model_or_device), dtype=dtype)


def outputs_to_float32(data_samples: Iterable) -> None:
    """Cast the floating tensors an mmseg prediction carries (``seg_logits``
    and the like, in ``PixelData`` fields) to float32, in place."""
    for sample in data_samples:
        for value in sample.values():
            if hasattr(value, 'items'):  # PixelData and other data elements
                for key, tensor in list(value.items()):
                    if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() \
                            and tensor.dtype != torch.float32:
                        value.set_field(tensor.float(), key)
