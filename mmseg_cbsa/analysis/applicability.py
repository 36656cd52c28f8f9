"""Which measurement applies to which kind of model.

The analysis tools take every kind of model the project ships configs for:
segmentors, mmpretrain image classifiers (``configs/classification``,
``configs/finetune``, converted authors' checkpoints) and the zero-shot
[CLS] probe (``CLSAttentionProbe``). Most measurements are about the
attention layers and apply to all of them (on the encoder where there is no
decoder); where one does not, e.g. a per-pixel prediction for a model that
predicts no pixels, the measurement raises :class:`NotApplicable` and the
tools end with that one line (``error: ...``, exit status 1).
"""


class NotApplicable(ValueError):
    """The measurement does not apply to the kind of model given; the
    message names the model and what the measurement needs."""
