"""The accuracy cost of reduced precision: how often a model's prediction
under autocast (bfloat16, float16) is the float32 one, pixel by pixel for a
segmentor, image by image for an image classifier.

* :func:`argmax_agreement`: a built model on image files;
* :func:`measure_precision_agreement` (``tools/analysis_tools/precision_agreement.py``):
  the same from a config and a checkpoint, printed.

Models that predict no class (the zero-shot [CLS] probe, whose prediction
is its attention maps) are refused with
:class:`~mmseg_cbsa.analysis.applicability.NotApplicable`.
"""
from typing import Dict, List, NamedTuple, Sequence

import torch
from mmengine.config import Config
from mmengine.structures import BaseDataElement
from torch import nn

from ..apis import build_model
from ..utils import collect_images
from ..utils.precision import autocast, precision_dtype
from .applicability import NotApplicable
from .model_coding_rate import file_pipeline


class Prediction(NamedTuple):
    """What a kind of model predicts, as its data samples carry it.

    Attributes:
        unit: what one predicted class belongs to (``'pixels'``, ``'images'``).
        label: the data sample's field of predicted classes.
        scores: its field of the scores the classes are the argmax of.
        score: those scores in a word (``'logit'``, ``'score'``), for the
            report and its key ``max_abs_<score>_diff``.
    """

    unit: str
    label: str
    scores: str
    score: str

    @property
    def diff_key(self) -> str:
        return f'max_abs_{self.score}_diff'


def prediction_of(model: nn.Module) -> Prediction:
    """What ``model`` predicts: per pixel for mmseg segmentors, per image for
    mmpretrain classifiers.

    Raises:
        NotApplicable: any other model (e.g. ``CLSAttentionProbe``).
    """
    from mmpretrain.models.classifiers import BaseClassifier
    from mmseg.models.segmentors import BaseSegmentor
    kinds = {
        BaseSegmentor: Prediction('pixels', 'pred_sem_seg', 'seg_logits', 'logit'),
        # mmpretrain's pred_score: the softmax of the head's logits
        BaseClassifier: Prediction('images', 'pred_label', 'pred_score', 'score'),
    }
    for kind, prediction in kinds.items():
        if isinstance(model, kind):
            return prediction
    raise NotApplicable(f'{type(model).__name__} predicts no class (neither a segmentor nor an '
                        'image classifier): the argmax agreement does not apply')


def _tensor(sample, field: str) -> torch.Tensor:
    """A data sample's field as a tensor (mmseg keeps it in a ``PixelData``)."""
    value = sample.get(field)
    return value.data if isinstance(value, BaseDataElement) else value


def argmax_agreement(model: nn.Module, images: Sequence[str], precision: str = 'bf16') -> Dict:
    """Share of predicted classes (pixels of a segmentor, images of a
    classifier) under autocast to ``precision`` that equal the float32
    prediction.

    Each image goes through the config's test pipeline (``model.cfg``, see
    :func:`~mmseg_cbsa.analysis.model_coding_rate.file_pipeline`) and the
    model's ``test_step`` (its data preprocessor and ``test_cfg``, e.g.
    sliding windows) twice, in float32 and under
    :func:`~mmseg_cbsa.utils.precision.autocast`, on the model's device.

    Returns:
        ``dict(precision, agreement, images, per_image, <unit>,
        <diff_key>)`` (:func:`prediction_of`): ``agreement`` over
        all units of all images, ``per_image`` the agreement of each image
        in input order, ``pixels`` (segmentors) the units counted, and
        ``max_abs_logit_diff`` (segmentors) or ``max_abs_score_diff``
        (classifiers) the largest difference of the (float32-cast) scores.

    Raises:
        NotApplicable: a model that predicts no class, before any image is read.
    """
    precision_dtype(precision)  # unknown names fail before any work
    kind = prediction_of(model)
    pipeline = file_pipeline(model.cfg)
    model.eval()
    same = total = 0
    per_image: List[float] = []
    max_diff = 0.0
    for path in images:
        data = pipeline(path)
        batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
        with torch.no_grad():
            ref = model.test_step(batch)[0]
            with autocast(model, precision):
                low = model.test_step(batch)[0]
        a, b = (_tensor(s, kind.label) for s in (ref, low))
        agree = int((a == b).sum())
        same, total = same + agree, total + a.numel()
        per_image.append(agree / a.numel())
        diff = _tensor(ref, kind.scores).float() - _tensor(low, kind.scores).float()
        max_diff = max(max_diff, float(diff.abs().max()))
    return {
        'precision': precision,
        'agreement': same / max(total, 1),
        kind.unit: total,
        'images': len(per_image),
        'per_image': per_image,
        kind.diff_key: max_diff
    }


def measure_precision_agreement(config: str,
                                checkpoint: str,
                                images: Sequence[str],
                                precision: str = 'bf16',
                                device: str = 'cpu') -> Dict:
    """:func:`argmax_agreement` of a config's model (any kind the project
    ships, built by :func:`~mmseg_cbsa.apis.loading.build_model`) with
    ``checkpoint`` on image files and/or folders; prints one line and
    returns the result."""
    paths = collect_images(images)
    cfg = Config.fromfile(config)
    model = build_model(cfg, checkpoint, device, seed=None).model
    model.cfg = cfg  # the test pipeline, as mmseg's init_model sets it
    kind = prediction_of(model)
    res = argmax_agreement(model, paths, precision)
    where = '' if kind.unit == 'images' else \
        f" in {res['images']} images (lowest image {100 * min(res['per_image'], default=1):.2f}%)"
    print(
        f"{precision} autocast vs float32 on {device}: argmax agreement "
        f"{100 * res['agreement']:.2f}% of {res[kind.unit]} {kind.unit}{where}, "
        f"max |{kind.score} difference| {res[kind.diff_key]:.4f}",
        flush=True)
    return res
