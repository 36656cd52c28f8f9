"""Zero-shot VOC12 segmentation from [CLS] attention maps (paper appendix C):
the evaluation of ``tools/zero_shot_voc.py``.

The scores themselves are :class:`~mmseg_cbsa.evaluation.ZeroShotCLSMetric`'s;
this module runs the test loop with a classifier's encoder and reports them
per layer, as the paper's Tables 5 and 6.
"""
import inspect
import os
import os.path as osp
import re
from typing import Dict, Mapping, Optional, Sequence

from ..apis import pretrained_backbone
from ..engine import build_runner
from ..evaluation.metrics.zero_shot_metric import TARGETS, ZeroShotCLSMetric
from ..utils import init_cpu_distributed, prepare_config
from ..visualization.plots import plot_zero_shot_layers
from .report import markdown_table, write_json


def per_layer(metrics: Mapping[str, float]) -> Dict[str, Dict[int, float]]:
    """``{target: {layer: value}}`` from the metric's flat keys
    (``[zero_shot/]<target>/layer<i>``); other keys are ignored."""
    out = {t: {} for t in TARGETS}
    for key, value in metrics.items():
        m = re.fullmatch(r'(?:zero_shot/)?(\w+)/layer(\d+)', key)
        if m and m.group(1) in out:
            out[m.group(1)][int(m.group(2))] = value
    return out


def config_share(cfg) -> float:
    """The attention mass kept per head in a config's zero-shot setting: its
    ``ZeroShotCLSMetric``'s ``share`` (configs/zero_shot), else the metric's
    default (0.6), e.g. for a classifier's config."""
    default = inspect.signature(ZeroShotCLSMetric).parameters['share'].default
    evaluator = cfg.get('test_evaluator')
    if isinstance(evaluator, dict) and str(evaluator.get('type')).endswith('ZeroShotCLSMetric'):
        return evaluator.get('share', default)
    return default


def evaluate_zero_shot(config: str,
                       checkpoint: str,
                       share: Optional[float] = None,
                       layers: Optional[Sequence[int]] = None,
                       work_dir: Optional[str] = None,
                       cfg_options: Optional[dict] = None,
                       launcher: str = 'none') -> dict:
    """Run the config's test loop with ``checkpoint``'s encoder and report.

    Args:
        config: a config with a CLSAttentionProbe model and ZeroShotCLSMetric
            (configs/zero_shot/).
        checkpoint: a converted classifier (``backbone.*`` keys) or a bare
            encoder state dict (:func:`~mmseg_cbsa.apis.loading.pretrained_backbone`).
        share: attention mass kept per head (default: the config's, else 0.6).
        layers: encoder blocks to evaluate (default: the config's, all).
        work_dir: default ``./work_dirs/<config name>``; receives
            ``zero_shot.json`` (the returned dict) and ``zero_shot_layers.png``
            (Jaccard index per layer, one line per target).
        cfg_options, launcher: as for ``tools/test.py``. Under a launcher the
            process group is left to the caller to end
            (:func:`~mmseg_cbsa.utils.distributed_exit.exit_finished_run`);
            rank 0 writes the files and prints.

    Returns:
        ``config``, ``checkpoint``, ``share``, ``per_layer``
        (``{target: {layer: Jaccard}}``) and ``best`` (``{target: max}``).
        Also prints the tables.
    """
    cfg = prepare_config(config, cfg_options, work_dir, launcher)
    cfg.model.backbone.init_cfg = pretrained_backbone(checkpoint)
    if share is not None:
        cfg.test_evaluator.share = share
    if layers is not None:
        cfg.model.layers = layers
    init_cpu_distributed(launcher)
    runner = build_runner(cfg)
    metrics = runner.test()  # the same on every rank: mmengine gathers the results
    del runner

    scores = per_layer(metrics)
    result = dict(
        config=config,
        checkpoint=checkpoint,
        share=config_share(cfg),
        per_layer=scores,
        best={t: max(scores[t].values())
              for t in TARGETS})
    from mmengine.dist import is_main_process
    if not is_main_process():
        return result
    os.makedirs(cfg.work_dir, exist_ok=True)
    write_json(osp.join(cfg.work_dir, 'zero_shot.json'), result)

    ids = sorted(scores['foreground'])
    print('\nbest layer (as Table 5):  ' + '  '.join(f'{t} {result["best"][t]:.2f}'
                                                     for t in TARGETS))
    print('per layer (as Table 6):')
    print(
        markdown_table(['target'] + [f'L{i}' for i in ids],
                       [[t] + [f'{scores[t][i]:.2f}' for i in ids] for t in TARGETS]))
    plot_zero_shot_layers(
        osp.join(cfg.work_dir, 'zero_shot_layers.png'), scores,
        osp.splitext(osp.basename(config))[0], ids)
    print(f"wrote {osp.join(cfg.work_dir, 'zero_shot.json')} and zero_shot_layers.png")
    return result
