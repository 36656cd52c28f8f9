"""Pictures of a model's predictions for images: segmentors and image classifiers.

    python demo/image_demo.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [...] --out DIR
                              [--gt-dir LABELS [--gt-suffix .png]] [--opacity 0.5]
    python demo/image_demo.py CONFIG MODEL.onnx IMAGE_OR_FOLDER [...] --out DIR

One ``<name>.png`` is written per input image. For a segmentor (this
plugin's configs/cbt, depict, segmenter, quickstart, examples, or any mmseg
config; it runs mmseg's ``MMSegInferencer``): the image, the prediction and,
with ``--gt-dir``, the ground truth ``LABELS/<name><suffix>`` (loaded as the
config's test pipeline loads annotations); an exported ``.onnx`` file in
place of the checkpoint runs in onnxruntime with the config's pipeline
(tools/deployment/pytorch2onnx.py exports one). For an ImageNet or
fine-tuned classifier (configs/classification, configs/finetune, with its
own or a converted authors' checkpoint): the image under a heading of its
top 5 classes and their scores (names from the config's test dataset,
e.g. mmpretrain's ImageNet class names). The zero-shot [CLS] probe
(configs/zero_shot) predicts neither: the demo says so and where its
attention is drawn (demo/zero_shot_demo.py, demo/attention_demo.py) and
exits with status 1. A model trained on the quickstart's synthetic shapes
gets a note (stderr) that it labels real photos with shape names.

One progress bar covers all images. Two different inputs with the same name
(a/x.jpg, b/x.jpg) are refused before anything runs. An image that cannot
be read or run is reported by name and skipped, and the script exits with
status 1 after the others are done. ``--out`` may not be (or lie in) an
input folder nor replace an input image, and pictures of an earlier run
there are replaced only with ``--overwrite``; all checked before anything
runs (exit status 1, ``error: ...``). ``--precision`` (default auto:
the fastest the hardware runs natively, never slower than float32;
``--bf16`` is an alias of ``--precision bf16``) runs a PyTorch model under
autocast on its device (CPU or CUDA); an ONNX graph runs in float32. The work is
mmseg_cbsa.apps.demos.predict_images.
"""
import argparse
from typing import List, Optional

from mmseg_cbsa.apps.demos import DEMO_ERRORS, demo_parser, demo_precision, predict_images
from mmseg_cbsa.utils.config import exit_on_input_error
from mmseg_cbsa.utils.console import known_warnings_ignored


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = demo_parser(__doc__, 'checkpoint, or an exported MODEL.onnx (segmentors)')
    p.add_argument(
        '--gt-dir', help='folder of ground-truth label maps <image name><suffix> (segmentors)')
    p.add_argument('--gt-suffix', default='.png', help='file ending of the label maps')
    p.add_argument(
        '--opacity', type=float, default=0.5, help='weight of the class colours (segmentors)')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    with exit_on_input_error(*DEMO_ERRORS):
        predict_images(
            args.config,
            args.checkpoint,
            args.images,
            args.out,
            device=args.device,
            opacity=args.opacity,
            precision=demo_precision(args),
            gt_dir=args.gt_dir,
            gt_suffix=args.gt_suffix,
            overwrite=args.overwrite)


if __name__ == '__main__':
    with known_warnings_ignored():  # third-party notices (mmseg_cbsa/utils/console.py)
        main()
