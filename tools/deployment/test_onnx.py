"""Evaluate an exported ONNX model on a config's test set.

    python tools/deployment/test_onnx.py CONFIG MODEL.onnx [--work-dir DIR] \
        [--precision {auto,float32,bf16,fp16}] [--cfg-options K=V ...]

The graph (tools/deployment/pytorch2onnx.py) is run by onnxruntime through
the config's test dataloader, data preprocessor, whole or sliding-window
inference and test evaluator (mmseg's IoUMetric): the metrics are those
tools/test.py reports for the PyTorch model. No checkpoint is loaded. A graph
whose input channels or class count are not the config's is refused (exit 1)
before anything runs. ``--precision`` (default float32, the graph as
exported): fp16 converts the graph to float16 first, bf16 is refused
(onnxruntime's CPU provider has no bfloat16 kernels), auto is float32 there
(the line printed says why; the faster CPU path is an int8 graph,
tools/deployment/quantize_onnx.py). The evaluation is
mmseg_cbsa.deployment.evaluate_onnx; docs/deployment.md#evaluating-an-exported-model.
"""
import argparse
import sys

from mmseg_cbsa.deployment import (OnnxMismatchError, OnnxPrecisionError, announce_onnx_precision,
                                   evaluate_onnx)
from mmseg_cbsa.utils.config import add_cfg_options
from mmseg_cbsa.utils.precision import add_precision_arg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the mmseg config the model was exported from')
    parser.add_argument('onnx', help='the exported .onnx file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation log')
    add_precision_arg(parser, default='float32')
    add_cfg_options(parser)
    args = parser.parse_args()
    try:
        evaluate_onnx(
            args.config,
            args.onnx,
            work_dir=args.work_dir,
            cfg_options=args.cfg_options,
            precision=announce_onnx_precision(args.precision))
    except (FileNotFoundError, OnnxMismatchError, OnnxPrecisionError) as err:
        sys.exit(f'test_onnx: {err}')


if __name__ == '__main__':
    main()
