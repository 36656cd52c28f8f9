"""Applications built on the library: the image and attention demos, the
web demo and its browser driver, and the benchmark harness (with the
importer of the authors' code it times against ours).

Applications may import every other part of the package; nothing in the
library imports them. ``web_demo`` and ``web_demo_browser`` are not imported
here: they need gradio / selenium, which only the demo installs.
"""
from .authors_code import AUTHORS_ENCODERS, AuthorsDecoder, AuthorsEncoder, authors_folder
from .benchmark import BACKENDS, TensorMemoryTracker, build_case, measure, run_isolated
from .benchmark_suite import benchmark_cases, run_benchmark
from .demos import ImageFailures, draw_attention_maps, segment_images

__all__ = [
    'AUTHORS_ENCODERS', 'AuthorsDecoder', 'AuthorsEncoder', 'BACKENDS', 'ImageFailures',
    'TensorMemoryTracker', 'authors_folder', 'benchmark_cases', 'build_case', 'draw_attention_maps',
    'measure', 'run_benchmark', 'run_isolated', 'segment_images'
]
