"""The authors' training loops, written out independently of mmengine and mmseg.

Each function is what the authors' script does in one iteration or for one
epoch's learning rate, from their public code (docs/recipes.md cites the file
and line of every value):

* segmentation (CBSA_semantic_segmentation/segm = Segmenter's train.py and
  engine.py, with timm 0.4.12's ``create_optimizer``): torch's
  ``CrossEntropyLoss(ignore_index=255)`` on logits upsampled bilinearly to the
  crop, SGD with momentum 0.9 and Nesterov (timm's ``'sgd'``), weight decay 0,
  Segmenter's ``PolynomialLR`` (power 0.9, floor 1e-5) stepped every iteration
  over ``epochs x ceil(N / batch)`` iterations;
* ImageNet classification (CBSA_image_classification/main.py): timm's
  ``LabelSmoothingCrossEntropy(0.1)``, ``Lion(model.parameters(), lr,
  weight_decay=0.05)``, ``LambdaLR`` with ``min((e + 1) / 20, cosine over 150
  epochs)`` stepped once per epoch;
* fine-tuning (CBSA_image_classification/finetune.py): ``nn.CrossEntropyLoss``,
  ``AdamW(net.parameters(), 1e-4, weight_decay=0.01)``, ``CosineAnnealingLR(T_max
  =400)`` stepped with ``step(epoch - 1)`` after each epoch;
* ViT adaptation (CBSA_finetune_vit/main.py): label smoothing 0.1,
  ``AdamW(model.parameters(), 5e-5, weight_decay=0.01)``, ``min((e + 1) / 10,
  cosine over 50 epochs)`` per epoch.
"""
import math

import torch
import torch.nn.functional as F

IGNORE = 255


# --- learning rates ---------------------------------------------------------------------------
def segmenter_poly_lr(t: int, base: float, iter_max: int) -> float:
    """Segmenter's PolynomialLR at iteration ``t`` (no warm-up, power 0.9, min 1e-5)."""
    return (base - 1e-5) * (1 - t / iter_max)**0.9 + 1e-5


def warmup_cosine_lr(e: int, base: float, warmup: int, epochs: int) -> float:
    """``LambdaLR`` factor ``min((e + 1) / warmup, (1 + cos(pi e / epochs)) / 2)``."""
    return base * min((e + 1) / (warmup + 1e-8), 0.5 * (math.cos(math.pi * e / epochs) + 1))


def finetune_cosine_lr(e: int, base: float = 1e-4, t_max: int = 400) -> float:
    """torch's CosineAnnealingLR, built (``last_epoch`` 0) and then stepped
    with ``step(epoch - 1)`` at the end of each epoch ``epoch``."""
    last_epoch = 0 if e == 0 else e - 2
    return base * 0.5 * (1 + math.cos(math.pi * last_epoch / t_max))


# --- losses -----------------------------------------------------------------------------------
def segmenter_loss(logits: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """``CrossEntropyLoss(ignore_index=255)`` on the logits upsampled to the labels' size."""
    logits = F.interpolate(logits, size=gt.shape[-2:], mode='bilinear', align_corners=False)
    return torch.nn.CrossEntropyLoss(ignore_index=IGNORE)(logits, gt)


def label_smoothing_loss(logits: torch.Tensor,
                         target: torch.Tensor,
                         smoothing: float = 0.1) -> torch.Tensor:
    """timm's ``LabelSmoothingCrossEntropy``."""
    logprobs = F.log_softmax(logits, dim=-1)
    nll = -logprobs.gather(dim=-1, index=target[:, None])[:, 0]
    return ((1 - smoothing) * nll - smoothing * logprobs.mean(dim=-1)).mean()


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group['lr'] = lr
