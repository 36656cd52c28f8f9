"""Evaluate an exported ONNX model on a config's test set.

    python tools/deployment/test_onnx.py CONFIG MODEL.onnx [--work-dir DIR] \
        [--cfg-options K=V ...]

The graph (tools/deployment/pytorch2onnx.py) is run by onnxruntime through
the config's test dataloader, data preprocessor, whole or sliding-window
inference and test evaluator (mmseg's IoUMetric): the metrics are those
tools/test.py reports for the PyTorch model. No checkpoint is loaded. A graph
whose input channels or class count are not the config's is refused (exit 1)
before anything runs. The
evaluation is mmseg_cbsa.deployment.evaluate_onnx;
docs/deployment.md#evaluating-an-exported-model.
"""
import argparse
import sys

from mmengine.config import DictAction

from mmseg_cbsa.deployment import OnnxMismatchError, evaluate_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the mmseg config the model was exported from')
    parser.add_argument('onnx', help='the exported .onnx file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation log')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default=None,
        help='override config settings, key=value')
    args = parser.parse_args()
    try:
        evaluate_onnx(args.config, args.onnx, work_dir=args.work_dir, cfg_options=args.cfg_options)
    except (FileNotFoundError, OnnxMismatchError) as err:
        sys.exit(f'test_onnx: {err}')


if __name__ == '__main__':
    main()
