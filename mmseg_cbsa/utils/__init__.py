from .checkpoint import (allow_mmengine_checkpoint_types, extract_state_dict,
                         load_checkpoint_file, save_checkpoint_file)
from .config import init_cpu_distributed, prepare_config

__all__ = ['allow_mmengine_checkpoint_types', 'extract_state_dict', 'load_checkpoint_file',
           'init_cpu_distributed', 'prepare_config', 'save_checkpoint_file']
