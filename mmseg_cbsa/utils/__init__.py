from .checkpoint import (allow_mmengine_checkpoint_types, extract_state_dict,
                         load_checkpoint_file, save_checkpoint_file)
from .config import prepare_config

__all__ = ['allow_mmengine_checkpoint_types', 'extract_state_dict', 'load_checkpoint_file',
           'prepare_config', 'save_checkpoint_file']
