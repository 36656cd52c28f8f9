from .checkpoint import (allow_mmengine_checkpoint_types, extract_state_dict,
                         load_checkpoint_file, save_checkpoint_file)
from .images import IMAGE_EXTS, collect_images
from .config import (add_runner_args, close_distributed, init_cpu_distributed,
                     parse_runner_args, prepare_config)

__all__ = ['IMAGE_EXTS', 'add_runner_args', 'allow_mmengine_checkpoint_types', 'close_distributed',
           'collect_images', 'extract_state_dict', 'init_cpu_distributed', 'load_checkpoint_file',
           'parse_runner_args', 'prepare_config', 'save_checkpoint_file']
