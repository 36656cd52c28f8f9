"""The analysis tools' plots (mmseg_cbsa/visualization/plots.py) write PNGs of
the promised size."""
import cv2

from mmseg_cbsa.visualization.plots import plot_coding_rate, plot_latency, plot_zero_shot_layers


def _size(path):
    img = cv2.imread(str(path))
    assert img is not None
    return img.shape[1], img.shape[0]


def test_coding_rate_plot(tmp_path):
    parts = ['backbone', 'backbone', 'decode_head']
    layers = [
        dict(
            index=i,
            part=part,
            Rc_mean=1.0 + i,
            Rc_std=0.1,
            Rc_normalized_mean=0.5,
            Rc_normalized_std=0.0) for i, part in enumerate(parts)
    ]
    plot_coding_rate(str(tmp_path / 'rc.png'), layers, 'title')
    assert _size(tmp_path / 'rc.png') == (1320, 480)


def test_latency_and_zero_shot_plots(tmp_path):
    rows = [dict(tokens=t, latency_ms=t / 10) for t in (64, 256, 1024)]
    plot_latency(str(tmp_path / 'lat.png'), {'a': rows, 'b': rows[:2]}, 'latency')
    assert _size(tmp_path / 'lat.png') == (840, 600)
    plot_zero_shot_layers(
        str(tmp_path / 'zs.png'), {
            'foreground': {
                0: .2,
                1: .4
            },
            'background': {
                0: .6,
                1: .7
            }
        }, 'zs')
    assert _size(tmp_path / 'zs.png') == (720, 480)
