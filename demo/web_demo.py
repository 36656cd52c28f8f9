"""Interactive demo in the browser: segmentation, [CLS] attention and CBSA representatives.

    python demo/web_demo.py CONFIG CHECKPOINT [--port 7860] [--host 127.0.0.1]
                            [--device cpu] [--opacity 0.5]

Serves a Gradio page (open http://HOST:PORT): upload an image and see its
segmentation with a legend, the [CLS] attention of a chosen encoder block
and head (encoders with a class token), and, for a chosen CBSA layer, head
and representative, where that representative extracts from (its row of
the extraction attention A over the image). Runs offline: no analytics, no
share link, nothing fetched from outside the machine. The page is
mmseg_cbsa.apps.web_demo.WebDemo; ``python -m mmseg_cbsa.apps.web_demo``
takes the same arguments.
"""
from mmseg_cbsa.apps.web_demo import main

if __name__ == '__main__':
    main()
