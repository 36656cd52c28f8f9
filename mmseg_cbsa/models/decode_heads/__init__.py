from .cbt_head import CBTHead
from .class_embedding_head import ClassEmbeddingHead
from .depict_head import DEPICTHead
from .segmenter_head import SegmenterHead

__all__ = ['CBTHead', 'ClassEmbeddingHead', 'DEPICTHead', 'SegmenterHead']
