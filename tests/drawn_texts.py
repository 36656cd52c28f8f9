"""Watching the labels the package's pictures write (titles, headings,
tile numbers, colour-bar labels), for tests of what a picture says."""
from typing import List, Tuple

import mmseg_cbsa.visualization.attention as attention


def record_texts(monkeypatch) -> List[Tuple[str, Tuple[int, int]]]:
    """From now on (for the test), every text
    :mod:`mmseg_cbsa.visualization.attention` writes, in order, with the
    (height, width) of the canvas it is written on; still drawn as usual."""
    drawn = []
    real = attention._put_text

    def record(canvas, text, *args, **kwargs):
        drawn.append((text, canvas.shape[:2]))
        real(canvas, text, *args, **kwargs)

    monkeypatch.setattr(attention, '_put_text', record)
    return drawn
