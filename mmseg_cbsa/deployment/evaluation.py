"""Evaluate an exported ONNX graph as ``tools/test.py`` evaluates a checkpoint.

:func:`evaluate_onnx` builds the Runner from the config exactly as
``tools/test.py`` does (:func:`mmseg_cbsa.utils.prepare_config`,
:class:`mmseg_cbsa.engine.UniqueLogRunner`), with one change: the model is
:class:`OnnxSegmentorModel`, an mmengine ``BaseModel`` whose predict-mode
forward is :meth:`OnnxSegmentor.predict` (mmseg's whole or sliding-window
inference and postprocessing with the graph in place of the PyTorch
forward). The test dataloader, the data preprocessor of the config, the
TestLoop and the test evaluator (mmseg's ``IoUMetric``) are the runner's own,
so the metrics are those ``tools/test.py`` reports for the PyTorch model.
No checkpoint is loaded: the weights are in the graph.
"""
import os.path as osp
from typing import Dict, Optional

from mmengine.config import Config
from mmengine.model import BaseModel

from ..engine import UniqueLogRunner
from ..registry import MODELS
from ..utils import prepare_config
from .onnx import OnnxSegmentor


@MODELS.register_module()
class OnnxSegmentorModel(BaseModel):
    """An ONNX graph exported by :func:`export_onnx` as a runner's model.

    Args:
        onnx_file: the exported graph.
        segmentor: the ``model`` config it was exported from (its
            ``data_preprocessor``, ``test_cfg`` and decode head settings are
            used; nothing is built from its backbone or head).
        default_scope: the registry scope of the config.
        data_preprocessor: what the Runner passes (the config's top-level
            ``data_preprocessor``); used only where ``segmentor`` has none,
            as for the PyTorch model.
        precision: what the graph runs in (:class:`OnnxSegmentor`).
    """

    def __init__(self,
                 onnx_file: str,
                 segmentor: dict,
                 default_scope: str = 'mmseg',
                 data_preprocessor: Optional[dict] = None,
                 precision: str = 'float32') -> None:
        if not osp.isfile(onnx_file):
            raise FileNotFoundError(f'ONNX file not found: {onnx_file}')
        segmentor = dict(segmentor)
        if segmentor.get('data_preprocessor') is None and data_preprocessor is not None:
            segmentor['data_preprocessor'] = data_preprocessor
        onnx_segmentor = OnnxSegmentor(onnx_file,
                                       Config(dict(model=segmentor, default_scope=default_scope)),
                                       precision)
        super().__init__(data_preprocessor=onnx_segmentor.data_preprocessor)
        self.onnx_file = onnx_file
        self.onnx_segmentor = onnx_segmentor

    def forward(self, inputs, data_samples=None, mode: str = 'predict'):
        if mode != 'predict':
            raise RuntimeError(f'an ONNX graph only predicts (mode="predict"), not "{mode}"')
        return self.onnx_segmentor.predict(inputs, data_samples)


def onnx_test_config(cfg: Config, onnx_file: str, precision: str = 'float32') -> Config:
    """``cfg`` (prepared as for ``tools/test.py``) with its model replaced by
    :class:`OnnxSegmentorModel` on ``onnx_file`` and no checkpoint to load."""
    cfg.model = dict(
        _scope_='mmseg_cbsa',
        type='OnnxSegmentorModel',
        onnx_file=osp.abspath(onnx_file),
        segmentor=cfg.model,
        default_scope=cfg.get('default_scope', 'mmseg'),
        precision=precision)
    cfg.load_from = None
    cfg.resume = False
    return cfg


def evaluate_onnx(config: str,
                  onnx_file: str,
                  work_dir: Optional[str] = None,
                  cfg_options: Optional[dict] = None,
                  precision: str = 'float32') -> Dict[str, float]:
    """Run the config's test dataloader and test evaluator on the graph.

    Args:
        config: the mmseg config the graph was exported from.
        onnx_file: the exported graph (a dynamic one, or one fixed to the
            size every test batch has after preprocessing / the window size).
        work_dir: where the runner writes its log (default as ``tools/test.py``:
            ``./work_dirs/<config name>``).
        cfg_options: overrides merged into the config (``--cfg-options``).
        precision: 'float32' (the graph as exported) or 'fp16'
            (:mod:`mmseg_cbsa.deployment.precision`; resolve ``'auto'`` with
            :func:`~mmseg_cbsa.deployment.precision.onnx_precision` first).

    Returns:
        the evaluator's metrics (``aAcc``, ``mIoU``, ``mAcc`` for ``IoUMetric``;
        the per-class table is in the log, as for ``tools/test.py``).
    """
    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'ONNX file not found: {onnx_file}')
    cfg = onnx_test_config(prepare_config(config, cfg_options, work_dir), onnx_file, precision)
    return UniqueLogRunner.from_cfg(cfg).test()


__all__ = ['OnnxSegmentorModel', 'evaluate_onnx', 'onnx_test_config']
