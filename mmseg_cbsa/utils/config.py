"""Config preparation shared by ``tools/train.py``, ``tools/test.py`` and friends."""
import argparse
import contextlib
import os
import os.path as osp
import sys
from typing import Any, Iterator, List, Optional, Type

import torch
from mmengine.config import Config, DictAction

from .checkpoint import CheckpointError, missing_checkpoint
from .images import UnreadableImage


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options key=value ...``, merged into the config as mmseg's tools
    merge it (``args.cfg_options``: a dict, or None)."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs, e.g. train_cfg.max_iters=100')


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """The flags every runner tool shares: ``--cfg-options``, ``--launcher``
    and the ``--local_rank`` that old launchers pass."""
    add_cfg_options(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, exporting ``LOCAL_RANK`` for launchers that only pass the flag;
    a ``config`` that is not a file is refused (exit status 2) with the
    configs of similar names."""
    args = parser.parse_args()
    if getattr(args, 'config', None) and not osp.isfile(args.config):
        parser.error(str(missing_config(args.config)))
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


@contextlib.contextmanager
def exit_on_input_error(*also: Type[BaseException]) -> Iterator[None]:
    """For the analysis tools' ``main``: a checkpoint or image that cannot be
    used (and the ``also`` types) ends the tool with ``error: <message>``,
    exit status 1, instead of a traceback; the messages name the file."""
    try:
        yield
    except (CheckpointError, UnreadableImage, *also) as e:
        sys.exit(f'error: {e}')


def check_model_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, through ``parser.error``, the inputs the image-folder analysis
    tools share: a missing ``config`` or ``checkpoint`` file, ``max_images`` < 1."""
    if not osp.isfile(args.config):
        parser.error(str(missing_config(args.config)))
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(str(missing_checkpoint(args.checkpoint)))
    if args.max_images is not None and args.max_images < 1:
        parser.error(f'--max-images must be >= 1, got {args.max_images}')


def missing_config(config: str) -> FileNotFoundError:
    """The error for a config path that is not a file, suggesting the
    configs of similar names in the same folder (or, for a path under
    ``configs/``, in any of its folders)."""
    import difflib
    import glob
    folder = osp.dirname(config) or '.'
    candidates = glob.glob(osp.join(glob.escape(folder), '*.py')) if osp.isdir(folder) else []
    if not candidates and 'configs' in config.split(os.sep):
        root = config[:config.index('configs') + len('configs')]
        candidates = glob.glob(osp.join(glob.escape(root), '**', '*.py'), recursive=True)
    close = difflib.get_close_matches(config, candidates, n=3, cutoff=0.6)
    hint = f'; did you mean {" or ".join(close)}?' if close else ''
    return FileNotFoundError(f'config file not found: {config}{hint}')


def prepare_config(config: str,
                   cfg_options: Optional[dict] = None,
                   work_dir: Optional[str] = None,
                   launcher: str = 'none') -> Config:
    """Load ``config`` and apply the command-line overrides mmseg's tools take.

    The work directory defaults to ``./work_dirs/<config name>``, as in
    mmseg. Distributed runs on machines without CUDA fall back to the gloo
    backend (mmseg's runtime asks for NCCL).
    """
    if not osp.isfile(config):
        raise missing_config(config)
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    if launcher != 'none' and not torch.cuda.is_available():
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
        # mmengine's default wrapper pins each process to GPU LOCAL_RANK; buffers
        # not synced at each forward, as there (torch's name for it: the
        # broadcast_buffers it passes is deprecated)
        if cfg.get('model_wrapper_cfg') is None:
            cfg.model_wrapper_cfg = dict(
                type='MMDistributedDataParallel', device_ids=None, forward_sync_buffers=False)
    return cfg


def relative_path_notes(cfg: Config) -> List[str]:
    """One line per relative path of ``cfg`` (work dir, ``load_from``, the
    dataloaders' ``data_root``): relative paths resolve against the current
    directory, not the config's folder or the repository, so running from
    elsewhere reads and writes elsewhere."""
    paths = [('work_dir', cfg.get('work_dir')), ('load_from', cfg.get('load_from'))]
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset') or {}
        paths.append((f'{key}.dataset.data_root', dataset.get('data_root')))
    cwd = os.getcwd()
    return [
        f'{name} {path!r} is relative: it resolves against the current directory {cwd}: '
        f'{osp.abspath(path)}' for name, path in paths
        if isinstance(path, str) and path and '://' not in path and not osp.isabs(path)
    ]


def init_cpu_distributed(launcher: str) -> None:
    """Start a gloo process group for ``--launcher pytorch`` without CUDA.

    mmengine 0.10.7 calls ``torch.cuda.set_device`` before initialising the
    group, which fails on CPU-only machines; the Runner skips its own
    initialisation when a group exists, so starting it here is enough.
    """
    import torch.distributed as dist
    if launcher == 'pytorch' and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group(backend='gloo')


def init_distributed(launcher: str, cfg: Optional[Config] = None) -> None:
    """Start the process group for a distributed run before the Runner does.

    Without CUDA this is :func:`init_cpu_distributed`; with CUDA it is
    mmengine's own ``init_dist`` with the config's ``env_cfg.dist_cfg``, the
    call the Runner would make (it skips it when a group exists). The tools
    need the group early so that rank 0 can check the work dir and share its
    decision before anything is written.
    """
    import torch.distributed as dist
    if launcher == 'none' or dist.is_initialized():
        return
    if not torch.cuda.is_available():
        init_cpu_distributed(launcher)
        return
    from mmengine.dist import init_dist
    dist_cfg = dict(((cfg or {}).get('env_cfg') or {}).get('dist_cfg') or {})
    init_dist(launcher, **dist_cfg)


def from_rank0(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (``obj`` itself outside a process group):
    how a decision taken once (a work dir's checkpoint, a log folder's name)
    reaches the other ranks."""
    from mmengine.dist import broadcast_object_list, get_world_size
    if get_world_size() > 1:
        box = [obj]
        broadcast_object_list(box, src=0)
        return box[0]
    return obj


def close_distributed() -> None:
    """Destroy the process group before exit.

    mmengine leaves it alive; gloo's threads then die with the interpreter
    and abort the process ('terminate called without an active exception')
    now and then, failing an otherwise finished run.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
