"""Interactive demo in the browser: segmentation, [CLS] attention and CBSA representatives.

    python demo/web_demo.py CONFIG CHECKPOINT [--port 7860] [--host 127.0.0.1]
                            [--device cpu] [--opacity 0.5]

Serves a Gradio page (open http://HOST:PORT): upload an image and see its
segmentation with a legend, the [CLS] attention of a chosen encoder block
and head (encoders with a class token), and, for a chosen CBSA layer, head
and representative, where that representative extracts from (its row of
the extraction attention A over the image). Runs offline: no analytics, no
share link, nothing fetched from outside the machine. The page is
mmseg_cbsa.analysis.web_demo.WebDemo.
"""
import argparse
from typing import List, Optional


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--host', default='127.0.0.1',
                   help='address to serve on (0.0.0.0 for other machines)')
    p.add_argument('--port', type=int, default=7860)
    p.add_argument('--device', default='cpu')
    p.add_argument('--opacity', type=float, default=0.5,
                   help='weight of the class colours over the image')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    from mmseg_cbsa.analysis.web_demo import launch
    args = parse_args(argv)
    launch(args.config, args.checkpoint, args.host, args.port, args.device, args.opacity)


if __name__ == '__main__':
    main()
