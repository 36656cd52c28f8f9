"""Interactive demo in the browser: prediction, [CLS] attention and CBSA representatives.

    python demo/web_demo.py CONFIG CHECKPOINT [--port 7860] [--host 127.0.0.1]
                            [--device cpu] [--opacity 0.5]
                            [--max-pixels 50000000] [--max-file-size 100mb]
                            [--display-size 1024] [--max-sessions 16] [--session-ttl 600]
                            [--concurrency 1] [--cache-ttl 3600]

Serves a Gradio page (open http://HOST:PORT): upload an image and see what
the model predicts (a segmentor's segmentation with a legend, an image
classifier's top-5 classes, nothing for the zero-shot [CLS] probe: the page
says which panel does not apply), the [CLS] attention of a chosen encoder
block and head (encoders with a class token), and, for a chosen CBSA layer,
head and representative, where that representative extracts from (its row
of the extraction attention A over the image). CONFIG is any config the
attention demo takes (segmentors, configs/classification, configs/finetune,
configs/zero_shot), CHECKPOINT its weights or a converted authors'
checkpoint. Uploads are read as demo/image_demo.py reads image files (16-bit
and grey ones included); a bad or too large one is answered with a message
naming it. The limits bound the
server's memory and disk whatever its users do: the largest image, the
size at which larger ones are predicted and kept, how many sessions'
analyses are kept and for how long unused, how many run at once, and how
long Gradio's cache keeps files (docs/demos.md). Runs offline: no
analytics, no share link, nothing fetched from outside the machine. The
page is mmseg_cbsa.apps.web_demo.WebDemo; ``python -m
mmseg_cbsa.apps.web_demo`` takes the same arguments.
"""
from mmseg_cbsa.apps.web_demo import main
from mmseg_cbsa.utils.console import known_warnings_ignored

if __name__ == '__main__':
    with known_warnings_ignored():  # third-party notices (mmseg_cbsa/utils/console.py)
        main()
