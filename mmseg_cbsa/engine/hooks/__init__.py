from .overlay_hook import OverlayHook

__all__ = ['OverlayHook']
