"""The accuracy cost of reduced precision: how often a model's prediction
under autocast (bfloat16, float16) is the float32 one, pixel by pixel.

* :func:`argmax_agreement`: a built model on image files;
* :func:`measure_precision_agreement` (``tools/analysis_tools/precision_agreement.py``):
  the same from a config and a checkpoint, printed.
"""
from typing import Dict, List, Sequence

import torch
from torch import nn

from ..apis import init_model
from ..utils import collect_images
from ..utils.images import read_image
from ..utils.precision import autocast, precision_dtype


def argmax_agreement(model: nn.Module, images: Sequence[str], precision: str = 'bf16') -> Dict:
    """Share of pixels whose predicted class under autocast to ``precision``
    equals the float32 prediction.

    Each image goes through mmseg's ``inference_model`` (the config's test
    pipeline and ``test_cfg``) twice, in float32 and under
    :func:`~mmseg_cbsa.utils.precision.autocast`, on the model's device.

    Returns:
        ``dict(precision, agreement, pixels, images, per_image,
        max_abs_logit_diff)``: ``agreement`` over all pixels of all images,
        ``per_image`` the agreement of each image in input order,
        ``max_abs_logit_diff`` the largest difference of the (float32-cast)
        logits.
    """
    from mmseg.apis import inference_model
    precision_dtype(precision)  # unknown names fail before any work
    model.eval()
    same = total = 0
    per_image: List[float] = []
    max_diff = 0.0
    for path in images:
        read_image(path)  # an empty or undecodable file is named, not a cv2 error
        with torch.no_grad():
            ref = inference_model(model, path)
            with autocast(model, precision):
                low = inference_model(model, path)
        a, b = ref.pred_sem_seg.data, low.pred_sem_seg.data
        agree = int((a == b).sum())
        same, total = same + agree, total + a.numel()
        per_image.append(agree / a.numel())
        max_diff = max(
            max_diff, float(
                (ref.seg_logits.data.float() - low.seg_logits.data.float()).abs().max()))
    return dict(
        precision=precision,
        agreement=same / max(total, 1),
        pixels=total,
        images=len(per_image),
        per_image=per_image,
        max_abs_logit_diff=max_diff)


def measure_precision_agreement(config: str,
                                checkpoint: str,
                                images: Sequence[str],
                                precision: str = 'bf16',
                                device: str = 'cpu') -> Dict:
    """:func:`argmax_agreement` of a config's model with ``checkpoint`` on
    image files and/or folders; prints one line and returns the result."""
    paths = collect_images(images)
    model = init_model(config, checkpoint, device=device)
    res = argmax_agreement(model, paths, precision)
    print(
        f"{precision} autocast vs float32 on {device}: argmax agreement "
        f"{100 * res['agreement']:.2f}% of {res['pixels']} pixels in {res['images']} images "
        f"(lowest image {100 * min(res['per_image'], default=1):.2f}%), "
        f"max |logit difference| {res['max_abs_logit_diff']:.4f}",
        flush=True)
    return res
