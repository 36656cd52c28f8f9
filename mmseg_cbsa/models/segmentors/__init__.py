from .cls_attention_probe import CLSAttentionProbe

__all__ = ['CLSAttentionProbe']
