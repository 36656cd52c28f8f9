"""Screenshot of the web demo on a model and an image (docs/images/web_demo.png).

    python demo/web_demo_screenshot.py CONFIG CHECKPOINT IMAGE --out web_demo.png
                                       [--representative J] [--window 1280 1300]
                                       [--overwrite]

Starts demo/web_demo.py's page on a free local port, opens it in headless
Chromium, uploads IMAGE, waits for the pictures the model has (a segmentor's
segmentation, or a classifier's top classes, the [CLS] and representative
pictures; optionally choosing representative J of the first CBSA layer) and
saves the page as a PNG (an existing file only with --overwrite).
Needs chromium and chromium-driver (tools/install.sh --tests). The steps are
mmseg_cbsa.apps.web_demo_browser.
"""
import argparse
import os.path as osp
import tempfile
from typing import List, Optional

from mmseg_cbsa.apps import web_demo_browser as page
from mmseg_cbsa.utils.outputs import OutputExistsError, check_new_file


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('image')
    p.add_argument('--out', required=True, help='the PNG to write')
    p.add_argument('--representative', type=int, help='representative to show')
    p.add_argument('--window', type=int, nargs=2, default=(1280, 1300), metavar=('W', 'H'))
    p.add_argument('--overwrite', action='store_true', help='replace an existing --out file')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        check_new_file(args.out, args.overwrite, '--out')
    except OutputExistsError as e:
        raise SystemExit(f'error: {e}') from None
    with tempfile.TemporaryDirectory() as tmp:
        with page.serve(args.config, args.checkpoint, osp.join(tmp, 'server.log'),
                        env={'GRADIO_TEMP_DIR': osp.join(tmp, 'gradio')}) as url, \
                page.chromium(args.window) as browser:
            page.upload(browser, url, args.image)
            sources = {i: page.shown(browser, i)[1] for i in page.analysed(browser)}
            if args.representative is not None:
                if 'rep-picture' not in sources:
                    raise SystemExit(f'error: --representative: {args.config} has no CBSA '
                                     'layers')
                page.choose_representative(browser, args.representative)
                page.shown(browser, 'rep-picture', old_src=sources['rep-picture'])
            browser.save_screenshot(args.out)
    print(args.out)


if __name__ == '__main__':
    main()
