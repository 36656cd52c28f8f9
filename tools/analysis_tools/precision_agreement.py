"""Argmax agreement of a model under reduced-precision autocast with float32.

    python tools/analysis_tools/precision_agreement.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [...]
                                                       [--precision bf16|fp16] [--device cpu]

Each image goes through the config's test pipeline and the model's
test_step twice, in float32 and under ``torch.autocast`` to the precision.
For a segmentor it prints the share of pixels whose predicted class is the
same, the lowest image's share and the largest logit difference; for an
image classifier (configs/classification, configs/finetune, converted
authors' checkpoints) the share of images whose top-1 class is the same and
the largest difference of the softmax scores. A model that predicts no
class (the zero-shot [CLS] probe) is refused with one line, exit status 1.
The measurement is mmseg_cbsa.analysis.precision.measure_precision_agreement.
"""
import argparse

from mmseg_cbsa.analysis.applicability import NotApplicable
from mmseg_cbsa.analysis.precision import measure_precision_agreement
from mmseg_cbsa.utils.config import exit_on_input_error


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('images', nargs='+', help='image files and/or folders')
    p.add_argument('--precision', choices=['bf16', 'fp16'], default='bf16')
    p.add_argument('--device', default='cpu')
    args = p.parse_args()
    with exit_on_input_error(FileNotFoundError, NotApplicable):
        measure_precision_agreement(args.config, args.checkpoint, args.images, args.precision,
                                    args.device)


if __name__ == '__main__':
    main()
