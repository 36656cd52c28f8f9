from .overlay_hook import OverlayHook
from .progress_hook import ProgressBarHook

__all__ = ['OverlayHook', 'ProgressBarHook']
