from .atomic_checkpoint_hook import AtomicCheckpointHook
from .overlay_hook import OverlayHook
from .progress_hook import ProgressBarHook

__all__ = ['AtomicCheckpointHook', 'OverlayHook', 'ProgressBarHook']
