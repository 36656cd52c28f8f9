from .loading import LoadCheckedAnnotations

__all__ = ['LoadCheckedAnnotations']
