from .checkpoint import (CheckpointError, extract_state_dict, load_checkpoint_file,
                         mmengine_checkpoint_types, save_checkpoint_file)
from .checkpoint_fit import CheckpointMismatchError, load_checkpoint, partial_loading
from .checkpoint_sources import read_checkpoint
from .config import (add_runner_args, close_distributed, init_cpu_distributed, init_distributed,
                     parse_runner_args, prepare_config, relative_path_notes)
from .images import IMAGE_EXTS, collect_images
from .outputs import (OutputExistsError, OutputInInputError, atomic_path, check_new_file,
                      check_output_dir)
from .work_dir import WorkDirError, WorkDirLock, check_new_run, guard_work_dir, resolve_resume

__all__ = [
    'CheckpointError', 'CheckpointMismatchError', 'IMAGE_EXTS', 'OutputExistsError',
    'OutputInInputError', 'WorkDirError', 'WorkDirLock', 'add_runner_args', 'atomic_path',
    'check_new_file', 'check_new_run', 'check_output_dir', 'close_distributed', 'collect_images',
    'extract_state_dict', 'guard_work_dir', 'init_cpu_distributed', 'init_distributed',
    'load_checkpoint', 'load_checkpoint_file', 'mmengine_checkpoint_types', 'parse_runner_args',
    'partial_loading', 'prepare_config', 'read_checkpoint', 'relative_path_notes', 'resolve_resume',
    'save_checkpoint_file'
]
