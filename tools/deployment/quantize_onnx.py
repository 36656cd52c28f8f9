"""Quantise an exported ONNX model to int8 (onnxruntime), for CPUs without bf16.

    python tools/deployment/quantize_onnx.py CONFIG MODEL.onnx OUT.onnx \
        [--mode dynamic|static] [--calib-images N | --images PATH ...] \
        [--per-channel] [--reduce-range] [--report [PATH ...]] [--overwrite] \
        [--cfg-options K=V ...]

MODEL.onnx is a float32 graph of tools/deployment/pytorch2onnx.py exported
from CONFIG. --mode dynamic (default) stores the linear layers' weights in
int8 and quantises their inputs at run time; --mode static (QDQ) also fixes
the activations' ranges beforehand, calibrated on --calib-images images
(default 8, evenly spaced) of the config's test set or of --images, through the config's test
pipeline, data preprocessor and whole / sliding-window inference. OUT.onnx is
written only once it is valid, is the config's graph and runs; an existing
OUT.onnx is replaced only with --overwrite. --report then prints the argmax
agreement of OUT.onnx with MODEL.onnx on the given images (default the whole
test set); the mIoU is tools/deployment/test_onnx.py CONFIG OUT.onnx. The
quantisation is mmseg_cbsa.deployment.quantize_onnx;
docs/deployment.md#int8-onnx-models.
"""
import argparse
import sys

from mmseg_cbsa.deployment import (QUANT_MODES, OnnxMismatchError, OnnxQuantizeError,
                                   measure_onnx_agreement, quantize_onnx)
from mmseg_cbsa.deployment.quantize import CALIBRATION_IMAGES
from mmseg_cbsa.utils.config import add_cfg_options
from mmseg_cbsa.utils.images import UnreadableImage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the mmseg config the model was exported from')
    parser.add_argument('onnx', help='the float32 .onnx file (tools/deployment/pytorch2onnx.py)')
    parser.add_argument('out', help='the int8 .onnx file to write')
    parser.add_argument('--mode', choices=QUANT_MODES, default='dynamic')
    parser.add_argument(
        '--calib-images',
        type=int,
        default=CALIBRATION_IMAGES,
        metavar='N',
        help='static: calibrate on N images (default %(default)s) of the test set or '
        'of --images, evenly spaced')
    parser.add_argument(
        '--images',
        nargs='+',
        help='static: calibrate on these image files / folders instead of the test set')
    parser.add_argument(
        '--per-channel', action='store_true', help='one weight scale per output channel')
    parser.add_argument(
        '--reduce-range',
        action='store_true',
        help='7-bit weights, for CPUs without VNNI (where u8 x s8 products can saturate)')
    parser.add_argument(
        '--report',
        nargs='*',
        metavar='PATH',
        help='print the argmax agreement with MODEL.onnx on these images / folders '
        '(none given: the whole test set)')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUT')
    add_cfg_options(parser)
    args = parser.parse_args()
    if args.calib_images < 1:
        parser.error(f'--calib-images must be >= 1, got {args.calib_images}')
    if args.mode == 'dynamic' and args.images:
        parser.error('--images are calibration images: --mode static only')
    try:
        res = quantize_onnx(
            args.onnx,
            args.out,
            args.config,
            args.mode,
            images=args.images,
            num_images=args.calib_images,
            per_channel=args.per_channel,
            reduce_range=args.reduce_range,
            overwrite=args.overwrite,
            cfg_options=args.cfg_options)
        calibrated = (f'; calibrated on {res.calibration_inputs} graph input(s) of '
                      f'{len(res.calibration_images)} image(s)' if args.mode == 'static' else '')
        print(f'wrote {res.path}: {args.mode} int8, '
              f'{res.nodes} weight tensors in int8, {res.int8_bytes / 2**20:.1f} MiB '
              f'(float32 {res.float_bytes / 2**20:.1f} MiB){calibrated}')
        if args.report is not None:
            measure_onnx_agreement(
                args.config, args.onnx, args.out, args.report or None, cfg_options=args.cfg_options)
    except (FileExistsError, FileNotFoundError, OnnxMismatchError, OnnxQuantizeError,
            UnreadableImage) as err:
        sys.exit(f'quantize_onnx: {err}')


if __name__ == '__main__':
    main()
