from .cbt_head import CBTHead
from .class_embedding_head import ClassEmbeddingHead

__all__ = ['CBTHead', 'ClassEmbeddingHead']
