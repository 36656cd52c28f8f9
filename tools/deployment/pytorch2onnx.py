"""Export a segmentation config (and checkpoint) to ONNX.

    python tools/deployment/pytorch2onnx.py CONFIG [CHECKPOINT] OUT.onnx \
        [--dynamic] [--shape H W] [--verify] [--overwrite] [--cfg-options K=V ...]

The graph takes the preprocessed batch ``img`` (N, 3, H, W) (normalised and
padded by the config's data preprocessor) and returns ``seg_logits``
(N, C, H, W), the decode head's logits resized to the input size. With
--dynamic, batch, height and width are runtime sizes; else the graph is fixed
to 1 x 3 x H x W (--shape, default the config's crop). --verify compares
onnxruntime with PyTorch and prints the differences. The graph is written
only when it is valid ONNX of the opset asked for (--opset) and, with
--verify, matches PyTorch; otherwise the tool exits 1 and writes nothing. An
existing OUT.onnx or OUT.onnx.data is replaced only with --overwrite. The
export is
mmseg_cbsa.deployment.export_onnx; docs/deployment.md#onnx-export.
"""
import argparse
import sys

from mmseg_cbsa.deployment import OnnxExportError, export_onnx, export_summary
from mmseg_cbsa.utils.config import add_cfg_options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='mmseg segmentation config')
    parser.add_argument(
        'paths',
        nargs='+',
        metavar='[CHECKPOINT] OUT',
        help='optional checkpoint (random weights without one), '
        'then the .onnx file')
    parser.add_argument(
        '--dynamic', action='store_true', help='runtime batch size, height and width')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        default=None,
        help='example (fixed, without --dynamic) input size; default the '
        "config's sliding window, data preprocessor size or 512 512")
    parser.add_argument(
        '--verify',
        action='store_true',
        help='compare onnxruntime with PyTorch and print the differences')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing OUT')
    parser.add_argument('--opset', type=int, default=None, help='ONNX opset version')
    add_cfg_options(parser)
    args = parser.parse_args()
    if len(args.paths) > 2:
        parser.error('expected CONFIG [CHECKPOINT] OUT.onnx')
    checkpoint, out = (None, args.paths[0]) if len(args.paths) == 1 else args.paths
    try:
        result = export_onnx(
            args.config,
            out,
            checkpoint,
            dynamic=args.dynamic,
            shape=args.shape,
            verify=args.verify,
            overwrite=args.overwrite,
            cfg_options=args.cfg_options,
            opset_version=args.opset)
    except (FileExistsError, FileNotFoundError, OnnxExportError, ValueError) as err:
        sys.exit(f'pytorch2onnx: {err}')
    print(export_summary(result))


if __name__ == '__main__':
    main()
