"""The interactive demo behind ``demo/web_demo.py``: a Gradio page where a user
uploads an image and sees its segmentation, the [CLS] attention of a chosen
encoder block and head, and what a chosen CBSA representative extracts.

:class:`WebDemo` holds the model and draws every picture from one
:class:`Analysis` (one forward pass under an
:class:`~mmseg_cbsa.analysis.attention_maps.AttentionRecorder`, see
:func:`~mmseg_cbsa.apps.demos.record_attention`), so that choosing
another layer, head or representative redraws without running the model
again. The pictures are the package's own (:mod:`mmseg_cbsa.visualization`).

The page works offline: Gradio's analytics and version check are off, no
share link is made, server-side rendering (which needs Node) is off, and the
theme uses the browser's own fonts, so nothing is fetched from outside the
machine, neither by the server nor by the page.
"""
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..analysis.attention_maps import CBSAExtraction
from ..visualization import (append_colour_bar, attention_overlay, draw_segmentation,
                             extraction_tile, label_grid, present_classes, standalone_visualizer)
from .demos import attention_model, record_attention

#: long side of the attention pictures on the page, px
PICTURE_SIZE = 320
#: what the [CLS] and representative pictures say when the model has none
NO_CLS = 'This encoder has no [CLS] token: no [CLS] attention.'
NO_CBSA = 'This model has no CBSA layers: no representatives.'


@dataclass
class Analysis:
    """One image through the model.

    Attributes:
        image: (H, W, 3) uint8 RGB, as uploaded.
        sample: mmseg's ``SegDataSample`` with ``pred_sem_seg`` (1, H, W).
        network_input: (H', W', 3) uint8 RGB, the image after the test
            pipeline, which the attention maps are aligned with.
        cls_maps: {block: (K, h, w)} [CLS]-to-patch attention, or None for
            encoders without a [CLS] token.
        extractions: the CBSA layers' extraction maps, in call order
            (``maps`` (1, K, m, h, w) on the CPU in float32).
    """
    image: np.ndarray
    sample: object
    network_input: np.ndarray
    cls_maps: Optional[Dict[int, np.ndarray]]
    extractions: List[CBSAExtraction]


def layer_label(ext: CBSAExtraction, index: int) -> str:
    """How a CBSA layer is offered on the page: its place and number."""
    layer = ext.layer if ext.layer is not None else index
    return f'{ext.where} layer {layer}' + (f' (call {ext.call})' if ext.call else '')


class WebDemo:
    """A model and the pictures the page shows.

    Args:
        config, checkpoint: the model (a sliding-window test config runs on
            the whole image, so that every map covers it).
        device: where the model runs.
        opacity: weight of the class colours over the image.
    """

    def __init__(self,
                 config: str,
                 checkpoint: str,
                 device: str = 'cpu',
                 opacity: float = 0.5) -> None:
        self.config = config
        self.model = attention_model(config, checkpoint, device)
        self.opacity = opacity
        self.visualizer = standalone_visualizer()
        meta = self.model.dataset_meta
        self.visualizer.set_dataset_meta(meta['classes'], meta.get('palette'))
        self.patch_size = getattr(self.model.backbone, 'patch_size', None)

    def analyse(self, image: np.ndarray) -> Analysis:
        """One forward pass on an (H, W, 3) uint8 RGB image."""
        image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        rec, sample = record_attention(self.model, image)
        cls_maps = None
        if rec.cls_maps is not None:
            cls_maps = {i: m[0].float().cpu().numpy() for i, m in rec.cls_maps.items()}
        for ext in rec.extractions:
            ext.maps = ext.maps.float().cpu()
            ext.other_mass = ext.other_mass.float().cpu()
        return Analysis(image, sample, rec.input_images()[0], cls_maps, rec.extractions)

    def segmentation(self, analysis: Analysis) -> np.ndarray:
        """The prediction over the image with a legend of the classes present
        (:func:`~mmseg_cbsa.visualization.draw_segmentation`); images smaller
        than ``PICTURE_SIZE`` are first enlarged by a whole factor (pixels
        repeated), so that the page shows them."""
        from mmengine.structures import PixelData
        from mmseg.structures import SegDataSample

        f = max(1, PICTURE_SIZE // max(analysis.image.shape[:2]))
        label = analysis.sample.pred_sem_seg.data
        sample = SegDataSample(
            pred_sem_seg=PixelData(data=label.repeat_interleave(f, -2).repeat_interleave(f, -1)))
        image = analysis.image.repeat(f, 0).repeat(f, 1)
        return draw_segmentation(
            self.visualizer,
            image,
            sample,
            draw_gt=False,
            with_labels=False,
            legend=True,
            opacity=self.opacity)

    def predicted_classes(self, analysis: Analysis) -> List[str]:
        """Names of the classes in the prediction, by id."""
        classes = self.visualizer.dataset_meta['classes']
        label = analysis.sample.pred_sem_seg.data.cpu().numpy()
        return [classes[c] for c in present_classes(label, len(classes))]

    def cls_picture(self, analysis: Analysis, block: int, head: int) -> np.ndarray:
        """[CLS] attention of one block and head over the network input,
        scaled to its maximum, with a title and a colour bar."""
        maps = analysis.cls_maps[block]
        picture = attention_overlay(analysis.network_input, maps[head], PICTURE_SIZE,
                                    self.patch_size)
        return label_grid(
            [[append_colour_bar(picture)]],
            pad=0,
            title=(f'[CLS] attention to each patch, encoder block {block}, head {head}\n'
                   f'scaled to its maximum, {maps[head].max():.3g}'))

    def representative_picture(self, analysis: Analysis, layer: int, head: int,
                               rep: int) -> np.ndarray:
        """What representative ``rep`` of CBSA layer ``layer`` (index into
        ``analysis.extractions``) extracts in ``head``: its row of ``A`` over
        the network input, with the patches it starts from outlined (none
        for learned representatives)."""
        ext = analysis.extractions[layer]
        amap = ext.maps[0, head, rep].numpy()
        cells = ext.cells()
        tile = extraction_tile(
            analysis.network_input,
            amap,
            None if cells is None else cells[rep].tolist(),
            PICTURE_SIZE,
            self.patch_size,
            number=rep)
        mass = 1 - float(ext.other_mass[0, head, rep])
        start = ('learned representative: it starts from no patch'
                 if cells is None else 'white box: the patches it starts from')
        return label_grid(
            [[append_colour_bar(tile)]],
            pad=0,
            title=(f'{ext.name}, head {head}: representative {rep} of {ext.maps.shape[2]}'
                   f'\nits row of A = softmax(Q0 W^T / sqrt p) over the image, scaled to its max'
                   f'\n{start}; {mass:.2f} of its mass on patches'))

    def build(self):
        """The Gradio page (a ``gradio.Blocks``; not launched)."""
        os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'
        import gradio as gr
        name = os.path.splitext(os.path.basename(self.config))[0]
        with gr.Blocks(title=f'mmseg_cbsa: {name}', analytics_enabled=False) as page:
            state = gr.State(None)
            gr.Markdown(f'## {name}\nUpload an image: the model segments it, and the '
                        'panels below show where its attention goes.')
            with gr.Row():
                upload = gr.Image(
                    type='numpy',
                    image_mode='RGB',
                    sources=['upload'],
                    label='image',
                    height=PICTURE_SIZE,
                    elem_id='upload')
                seg = gr.Image(
                    type='numpy',
                    format='png',
                    label='segmentation',
                    height=PICTURE_SIZE,
                    interactive=False,
                    elem_id='segmentation')
            classes = gr.Markdown(elem_id='classes')
            with gr.Row():
                with gr.Column():
                    gr.Markdown('### [CLS] attention\nWhere the class token looks, per '
                                'encoder block and head.')
                    cls_block, cls_head = _dropdowns(('encoder block', 'cls-block'),
                                                     ('head', 'cls-head'))
                    cls_note, cls_image = gr.Markdown(), _picture('cls-picture')
                with gr.Column():
                    gr.Markdown('### CBSA representatives\nWhere one representative '
                                'extracts its content from (its row of A).')
                    rep_layer, rep_head = _dropdowns(('CBSA layer', 'rep-layer'),
                                                     ('head', 'rep-head'))
                    rep_index = gr.Slider(
                        0, 1, step=1, value=0, label='representative', elem_id='rep-index')
                    rep_note, rep_image = gr.Markdown(), _picture('rep-picture')

            def run(image):
                if image is None:
                    return (None, None, '', *self._cls_widgets(None), *self._rep_widgets(None))
                analysis = self.analyse(image)
                found = ', '.join(self.predicted_classes(analysis))
                return (analysis, self.segmentation(analysis), f'**predicted:** {found}',
                        *self._cls_widgets(analysis), *self._rep_widgets(analysis))

            def show_cls(analysis, block, head):
                if analysis is None or analysis.cls_maps is None or block is None:
                    return None
                return self.cls_picture(analysis, int(block), int(head or 0))

            def show_rep(analysis, layer, head, rep):
                if analysis is None or not analysis.extractions or layer is None:
                    return None, gr.update()
                m = analysis.extractions[int(layer)].maps.shape[2]
                rep = min(int(rep or 0), m - 1)
                picture = self.representative_picture(analysis, int(layer), int(head or 0), rep)
                return picture, gr.update(maximum=m - 1, value=rep)

            upload.change(run, upload, [
                state, seg, classes, cls_block, cls_head, cls_note, cls_image, rep_layer, rep_head,
                rep_index, rep_note, rep_image
            ])
            for widget in (cls_block, cls_head):
                widget.input(show_cls, [state, cls_block, cls_head], cls_image)
            for widget in (rep_layer, rep_head, rep_index):
                widget.input(show_rep, [state, rep_layer, rep_head, rep_index],
                             [rep_image, rep_index])
        return page

    def _cls_widgets(self, analysis: Optional[Analysis]) -> Tuple:
        """Updates of the [CLS] tab for a new analysis: block and head
        choices, a note, the first picture."""
        import gradio as gr
        if analysis is None or analysis.cls_maps is None:
            note = NO_CLS if analysis is not None else ''
            return (gr.update(choices=[], value=None), gr.update(choices=[],
                                                                 value=None), note, None)
        blocks = sorted(analysis.cls_maps)
        heads = range(len(analysis.cls_maps[blocks[0]]))
        return (gr.update(choices=[(str(b), b) for b in blocks], value=blocks[0]),
                gr.update(choices=[(str(k), k) for k in heads],
                          value=0), '', self.cls_picture(analysis, blocks[0], 0))

    def _rep_widgets(self, analysis: Optional[Analysis]) -> Tuple:
        """Updates of the representatives tab for a new analysis: layer,
        head and representative choices, a note, the first picture."""
        import gradio as gr
        if analysis is None or not analysis.extractions:
            note = NO_CBSA if analysis is not None else ''
            return (gr.update(choices=[], value=None), gr.update(choices=[], value=None),
                    gr.update(maximum=1, value=0), note, None)
        layers = [(layer_label(e, i), i) for i, e in enumerate(analysis.extractions)]
        first = analysis.extractions[0]
        heads, m = first.maps.shape[1], first.maps.shape[2]
        return (gr.update(choices=layers,
                          value=0), gr.update(choices=[(str(k), k) for k in range(heads)], value=0),
                gr.update(minimum=0, maximum=m - 1,
                          value=0), '', self.representative_picture(analysis, 0, 0, 0))


def _dropdowns(*specs: Tuple[str, str]) -> list:
    """Dropdowns side by side, one per (label, elem_id), filled per image."""
    import gradio as gr
    with gr.Row():
        return [gr.Dropdown(label=label, choices=[], elem_id=elem_id) for label, elem_id in specs]


def _picture(elem_id: str):
    """An output picture, sent losslessly (PNG); the picture has its own title."""
    import gradio as gr
    return gr.Image(
        type='numpy', format='png', interactive=False, show_label=False, elem_id=elem_id)


def launch(config: str,
           checkpoint: str,
           host: str = '127.0.0.1',
           port: int = 7860,
           device: str = 'cpu',
           opacity: float = 0.5) -> None:
    """Serve the demo page of a model until interrupted (no share link, no
    analytics, nothing fetched from outside)."""
    page = WebDemo(config, checkpoint, device, opacity).build()
    page.launch(
        server_name=host,
        server_port=port,
        share=False,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        footer_links=[],
        theme=_offline_theme())


def _offline_theme():
    """Gradio's default theme on the browser's own fonts (no font files to fetch)."""
    import gradio as gr
    return gr.themes.Default(
        font=['ui-sans-serif', 'system-ui', 'sans-serif'], font_mono=['ui-monospace', 'monospace'])


def parse_args(argv: Optional[List[str]] = None):
    """The command line of ``demo/web_demo.py`` (and ``python -m`` of this module)."""
    import argparse
    p = argparse.ArgumentParser(description='Interactive demo in the browser: segmentation, '
                                '[CLS] attention and CBSA representatives.')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument(
        '--host', default='127.0.0.1', help='address to serve on (0.0.0.0 for other machines)')
    p.add_argument('--port', type=int, default=7860)
    p.add_argument('--device', default='cpu')
    p.add_argument(
        '--opacity', type=float, default=0.5, help='weight of the class colours over the image')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    launch(args.config, args.checkpoint, args.host, args.port, args.device, args.opacity)


if __name__ == '__main__':
    main()
