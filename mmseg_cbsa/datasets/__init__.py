from .metainfo import config_dataset, dataset_meta
from .mini_ade import MiniADE20KDataset, ensure_mini_ade20k, generate_mini_ade20k
from .transforms import LoadCheckedAnnotations

__all__ = [
    'MiniADE20KDataset', 'ensure_mini_ade20k', 'generate_mini_ade20k', 'LoadCheckedAnnotations',
    'config_dataset', 'dataset_meta'
]
