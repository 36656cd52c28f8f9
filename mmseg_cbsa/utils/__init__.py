from .checkpoint import (allow_mmengine_checkpoint_types, extract_state_dict,
                         load_checkpoint_file, save_checkpoint_file)
from .config import (add_runner_args, close_distributed, init_cpu_distributed,
                     parse_runner_args, prepare_config)

__all__ = ['add_runner_args', 'close_distributed', 'parse_runner_args', 'allow_mmengine_checkpoint_types', 'extract_state_dict', 'load_checkpoint_file',
           'init_cpu_distributed', 'prepare_config', 'save_checkpoint_file']
