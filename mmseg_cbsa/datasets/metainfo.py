"""What a config's dataset declares about its classes, without building it
(no data needed): how the demos and the inferencer name a model's classes
when its checkpoint does not."""
from typing import Optional, Tuple

from mmengine.config import Config

from ..registry import DATASETS, SCOPE


def config_dataset(cfg: Config, loader: str = 'test_dataloader') -> Tuple[dict, Optional[type]]:
    """``cfg.<loader>.dataset`` and the class it names, looked up in the
    config's scope (ours, mmseg's, or mmpretrain's for the classifiers:
    ``ImageNet``, ``CIFAR10``...) without building the dataset (no data
    needed); ``({}, None)`` where the config has no such dataset, and
    ``(dataset, None)`` where its type is not registered."""
    dataset = (cfg.get(loader) or {}).get('dataset') or {}
    if 'type' not in dataset:
        return {}, None
    with DATASETS.switch_scope_and_registry(cfg.get('default_scope', SCOPE)) as registry:
        return dataset, registry.get(dataset['type'])


def dataset_meta(cfg: Config) -> dict:
    """``classes`` and ``palette`` of a config's test dataset, as the dataset
    class declares them (its ``METAINFO`` merged with the config's
    ``metainfo``), without building the dataset (no data needed).

    Raises:
        KeyError: the config names no test dataset, an unregistered one,
            or one that declares no classes.
    """
    dataset, cls = config_dataset(cfg)
    if not dataset:
        raise KeyError('the config has no test_dataloader.dataset.type to take the class '
                       'names and colours from')
    if cls is None:
        raise KeyError(f"test_dataloader.dataset.type '{dataset['type']}' is not registered")
    meta = cls._load_metainfo(dataset.get('metainfo'))
    if not meta.get('classes'):
        raise KeyError(f"{dataset['type']} declares no classes (METAINFO['classes'])")
    return dict(classes=list(meta['classes']), palette=meta.get('palette'))


__all__ = ['config_dataset', 'dataset_meta']
