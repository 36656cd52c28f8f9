"""Inputs that used to stop a run or be taken wrongly (issue "Nothing lost,
nothing wrong reported as right", items 5, 6 and the data part of 7).

* the demos skip an unreadable image, name it, and exit non-zero at the end;
  different inputs with the same name are refused, not overwritten;
* every CBSA-based model segments elongated images (representative grid at
  most the patch grid), and the attention maps carry the grid actually used;
* a corrupt label map, one of the wrong size, or out-of-range values are
  errors naming the file, raised where the label map is loaded.
"""
import os
import os.path as osp
import re
import runpy
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmseg_cbsa  # noqa: F401  (registers modules)
from mmseg_cbsa.models.attentions import CBSA, AgentAttention
from tests.cli import run_python

TINY = 'tests/data/configs/tiny_cbt.py'
TINY_BACKBONE = 'tests/data/configs/tiny_cbt_backbone.py'
QUICKSTART = 'configs/quickstart/cbt_vit-t8_1xb8-1k_mini-ade20k-128x128.py'
CBT_ADE20K = 'configs/cbt/cbt_vit-t16_8xb1-160k_ade20k-512x512.py'


def _write_image(path, hw, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    assert cv2.imwrite(str(path), rng.randint(0, 256, (*hw, 3), dtype=np.uint8))
    return path


# --------------------------------------------------------------------- item 5


@pytest.fixture(scope='module')
def demo_assets(tmp_path_factory, repo_root):
    """A random-weight tiny_cbt checkpoint (with the dataset's classes) and a
    folder whose first two files (in sorted order) do not decode."""
    from mmseg.apis import init_model

    from mmseg_cbsa.datasets.mini_ade import CLASSES, PALETTE
    from mmseg_cbsa.utils import save_checkpoint_file
    tmp = tmp_path_factory.mktemp('demo_inputs')
    model = init_model(osp.join(repo_root, TINY), None, device='cpu')
    ckpt = str(tmp / 'tiny_cbt.pth')
    save_checkpoint_file(
        model.state_dict(), ckpt, meta=dict(dataset_meta=dict(classes=CLASSES, palette=PALETTE)))
    folder = tmp / 'images'
    folder.mkdir()
    (folder / 'a_empty.png').write_bytes(b'')  # zero bytes
    (folder / 'b_corrupt.jpg').write_bytes(b'not an image at all' * 10)
    for i in range(2):
        _write_image(folder / f'img{i}.png', (32, 48), seed=i)
    return dict(ckpt=ckpt, folder=folder)


def _run_in_process(repo_root, monkeypatch, script, *argv):
    """A demo script in this process (imports are paid once); returns the
    SystemExit code (None when it returned normally)."""
    monkeypatch.chdir(repo_root)
    monkeypatch.syspath_prepend(osp.join(repo_root, 'demo'))
    monkeypatch.setattr(sys, 'argv', [script, *map(str, argv)])
    try:
        runpy.run_path(osp.join(repo_root, 'demo', script), run_name='__main__')
    except SystemExit as e:
        return e.code
    return None


@pytest.mark.slow
def test_image_demo_skips_bad_images_names_them_and_exits_nonzero(demo_assets, repo_root, tmp_path):
    folder = demo_assets['folder']
    res = run_python(
        repo_root,
        'demo/image_demo.py',
        TINY,
        demo_assets['ckpt'],
        folder,
        '--out',
        tmp_path,
        check=False)
    assert res.returncode == 1, res.stderr[-3000:]
    # the good images after the bad ones were all segmented
    assert sorted(p.name for p in tmp_path.iterdir()) == ['img0.png', 'img1.png']
    for bad in ('a_empty.png', 'b_corrupt.jpg'):
        assert f'error: {folder / bad}:' in res.stderr
    assert 'empty file (0 bytes)' in res.stderr
    assert '!buf.empty()' not in res.stderr
    assert '2 of 4 images failed and were skipped' in res.stderr


def test_attention_demo_skips_bad_images_names_them_and_exits_nonzero(demo_assets, repo_root,
                                                                      tmp_path, monkeypatch,
                                                                      capsys):
    folder = demo_assets['folder']
    code = _run_in_process(repo_root, monkeypatch, 'attention_demo.py', TINY, demo_assets['ckpt'],
                           folder, '--out', tmp_path)
    out, err = capsys.readouterr()
    assert code is not None and code != 0 and '2 of 4 images failed' in str(code)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['img0', 'img1']
    for stem in ('img0', 'img1'):
        assert sorted(p.name for p in (tmp_path / stem).iterdir()) == [
            'cbsa_decode_head_layer0.png', 'cls_attention.png'
        ]
    assert f'error: {folder / "a_empty.png"}: empty file (0 bytes)' in err
    assert f'error: {folder / "b_corrupt.jpg"}: cannot be decoded as an image' in err


@pytest.mark.parametrize('names', [('a/x.jpg', 'b/x.jpg'), ('a/x.jpg', 'a/x.png')])
def test_image_demo_refuses_inputs_whose_outputs_would_overwrite(names, demo_assets, tmp_path):
    from mmseg_cbsa.apps.demos import segment_images
    paths = [_write_image(tmp_path / 'in' / n, (32, 48), seed=i) for i, n in enumerate(names)]
    with pytest.raises(ValueError, match=r"share a name .*'x': .*x\.\w+, .*x\.\w+"):
        segment_images(TINY, demo_assets['ckpt'], [str(p) for p in paths], str(tmp_path / 'out'))
    assert not (tmp_path / 'out').exists()


def test_the_same_file_twice_is_one_input():
    from mmseg_cbsa.apps.demos import unique_images
    images, stems = unique_images(['d/x.jpg', 'd/./x.jpg', 'd/y.jpg', 'd/x.jpg'])
    assert images == ['d/x.jpg', 'd/y.jpg'] and stems == ['x', 'y']


# --------------------------------------------------------------------- item 6

# patch grids (h, w) thinner than the 4x4 representative grid on one side
THIN_GRIDS = [(1, 50), (50, 1), (2, 16), (16, 2), (3, 3), (1, 1)]


@pytest.mark.parametrize('cls', [CBSA, AgentAttention])
@pytest.mark.parametrize('hw', THIN_GRIDS)
def test_layer_pools_at_most_the_patch_grid(cls, hw):
    layer = cls(16, num_heads=2, head_dims=8, rep_grid=4)
    n = hw[0] * hw[1] + 2  # [CLS] first, one class token last
    x = torch.randn(2, n, 16)
    got = []
    handle = layer.register_attention_hook(lambda mod, maps: got.append(maps))
    out = layer(x, hw, patch_start=1)
    handle.remove()
    assert out.shape == x.shape and torch.isfinite(out).all()
    eff = (min(4, hw[0]), min(4, hw[1]))
    assert layer.rep_grid_for(hw) == eff
    (maps, ) = got
    assert maps.rep_grid == eff and maps.extraction.shape == (2, 2, eff[0] * eff[1], n)
    # the count of similarities follows the grid used when told the patch grid
    m = eff[0] * eff[1]
    extra = m * (m + 1) // 2 if cls is CBSA else 0
    assert layer.num_similarities(n, n, hw_shape=hw) == 2 * (m * n + extra)


def test_normal_grids_keep_the_configured_grid():
    layer = CBSA(16, num_heads=2, head_dims=8, rep_grid=(3, 4))
    for hw in ((3, 4), (8, 12), (40, 5)):
        assert layer.rep_grid_for(hw) == (3, min(4, hw[1]))
    assert layer.num_similarities(10, 10) == 2 * (12 * 10 + 12 * 13 // 2)


def _backbone(kind, t):
    from mmseg_cbsa.registry import MODELS, build_in_scope
    attn = dict(type=t, rep_grid=4)
    cfg = dict(type=kind, arch=(16, 2, 2), img_size=32, patch_size=8)
    if kind == 'CRATECBT':
        cfg['attn_cfg'] = [attn] * 2
    else:
        cfg['attn_cfg'] = attn
    return build_in_scope(MODELS, cfg).eval()


# (8, 400) px at patch 8 is a 1x50 patch grid; (24, 200) a 3x25 one
@pytest.mark.parametrize('shape', [(8, 400), (400, 8), (24, 200), (200, 24)])
@pytest.mark.parametrize('kind,t',
                         [('CBT', 'CBSA'), ('CBT', 'AgentAttention'), ('CRATECBT', 'CBSA'),
                          ('ViT', 'CBSA'), ('ViT', 'AgentAttention')])
def test_every_cbsa_encoder_takes_elongated_images(kind, t, shape):
    model = _backbone(kind, t)
    with torch.no_grad():
        (out, ) = model(torch.randn(1, 3, *shape))
    assert out.shape == (1, 16, shape[0] // 8, shape[1] // 8)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('hw', [(1, 60), (60, 1), (2, 30)])
@pytest.mark.parametrize('head', ['CBTHead', 'CBTHead-agent', 'DEPICTHead-cbsa'])
def test_every_cbsa_head_takes_elongated_feature_maps(head, hw):
    from mmseg_cbsa.registry import MODELS, build_in_scope
    cfg = dict(in_channels=16, num_layers=1, num_heads=2, head_dims=8, num_classes=3)
    if head == 'CBTHead':
        cfg.update(type='CBTHead', attn_cfg=dict(type='CBSA', rep_grid=4))
    elif head == 'CBTHead-agent':
        cfg.update(type='CBTHead', attn_cfg=dict(type='AgentAttention', rep_grid=4))
    else:
        cfg.update(type='DEPICTHead', attn_cfg=dict(type='CBSA', rep_grid=4))
    model = build_in_scope(MODELS, cfg).eval()
    with torch.no_grad():
        logits = model([torch.randn(1, 16, *hw)])
    assert logits.shape == (1, 3, *hw) and torch.isfinite(logits).all()


@pytest.mark.parametrize(
    'config,shapes',
    [
        (QUICKSTART, [(200, 3000), (3000, 200)]),  # 8x8 representatives, 2x16 patches
        # resized to 137x2048 like a 200x3000 image: 10x10 representatives, 9x32 patch windows
        (CBT_ADE20K, [(100, 1500)]),
    ])
@pytest.mark.slow
def test_whole_model_inference_on_elongated_images(config, shapes, tmp_path, repo_root):
    from mmseg.apis import inference_model, init_model
    model = init_model(osp.join(repo_root, config), None, device='cpu')
    for shape in shapes:
        image = _write_image(tmp_path / f'{shape[0]}x{shape[1]}.png', shape)
        with torch.no_grad():
            result = inference_model(model, str(image))
        assert tuple(result.pred_sem_seg.data.shape) == (1, *shape)


def _tiny_with_grid(tmp_path, repo_root, grid):
    cfg = tmp_path / 'tiny_rep_grid.py'
    cfg.write_text(f"_base_ = ['{osp.join(repo_root, TINY_BACKBONE)}']\n"
                   f"model = dict(backbone=dict(attn_cfg=dict(rep_grid={grid})), "
                   f"decode_head=dict(attn_cfg=dict(rep_grid={grid})))\n")
    return str(cfg)


def test_recorder_and_attention_demo_use_the_grid_actually_used(tmp_path, repo_root, monkeypatch,
                                                                capsys):
    """A 20x300 image is a 2x16 patch grid for the tiny configs: the 4x4
    representative grid becomes 2x4 and the maps, cells and pictures say so."""
    from mmseg.apis import inference_model, init_model

    from mmseg_cbsa.analysis.attention_maps import AttentionRecorder
    from mmseg_cbsa.utils import save_checkpoint_file
    config = _tiny_with_grid(tmp_path, repo_root, 4)
    model = init_model(config, None, device='cpu')
    image = _write_image(tmp_path / 'wide.png', (20, 300))
    with AttentionRecorder(model) as rec:
        inference_model(model, str(image))
    assert rec.extractions
    for ext in rec.extractions:
        assert ext.hw_shape == (2, 16) and ext.rep_grid == (2, 4)
        assert ext.maps.shape[2:] == (8, 2, 16)
        cells = ext.cells()
        assert cells.shape == (8, 4)
        assert cells[:, 0].min() == 0 and cells[:, 2].max() == 2  # rows cover the grid
        assert cells[:, 1].min() == 0 and cells[:, 3].max() == 16
    ckpt = tmp_path / 'tiny.pth'
    save_checkpoint_file(model.state_dict(), str(ckpt), meta={})
    code = _run_in_process(repo_root, monkeypatch, 'attention_demo.py', config, ckpt, image,
                           '--out', tmp_path / 'out')
    out = capsys.readouterr().out
    assert code is None
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == [
        'cbsa_backbone_layer0.png', 'cbsa_backbone_layer1.png', 'cbsa_decode_head_layer0.png',
        'cls_attention.png'
    ]
    assert str(tmp_path / 'out' / 'cbsa_decode_head_layer0.png') in out


# --------------------------------------------------------------------- item 7

MINI = 'configs/_base_/datasets/mini_ade20k.py'


@pytest.fixture
def broken_mini_ade(tmp_path):
    """A 3+3 image miniature ADE20K (32x32) with one broken label map per case."""
    from mmseg_cbsa.datasets import generate_mini_ade20k
    root = tmp_path / 'mini'
    generate_mini_ade20k(str(root), num_train=3, num_val=3, size=32, seed=0)
    ann = root / 'annotations'
    (ann / 'training' / 'mini_000000.png').write_bytes(b'')
    (ann / 'training' / 'mini_000001.png').write_bytes(b'\x89PNG garbage' * 20)
    good = cv2.imread(str(ann / 'training' / 'mini_000002.png'), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(
        str(ann / 'training' / 'mini_000002.png'),
        cv2.resize(good, (40, 24), interpolation=cv2.INTER_NEAREST))
    bad = cv2.imread(str(ann / 'validation' / 'mini_000000.png'), cv2.IMREAD_UNCHANGED)
    bad[:3, :5] = 50  # class 49 after reduce_zero_label
    cv2.imwrite(str(ann / 'validation' / 'mini_000000.png'), bad)
    cv2.imwrite(str(ann / 'validation' / 'mini_000001.png'), good[:16])
    return root


def _dataset(root, split):
    from mmengine.registry import init_default_scope

    from mmseg_cbsa.registry import DATASETS
    init_default_scope('mmseg_cbsa')
    cfg = Config.fromfile(MINI)
    loader = cfg.train_dataloader if split == 'training' else cfg.val_dataloader
    ds = dict(loader.dataset, data_root=str(root), generate=False)
    return DATASETS.build(ds)


def _index(ds, name):
    return [osp.basename(ds.get_data_info(i)['seg_map_path']) for i in range(len(ds))].index(name)


@pytest.mark.parametrize(
    'split,name,match',
    [
        ('training', 'mini_000000.png', r'is an empty file \(0 bytes\)'),
        ('training', 'mini_000001.png', r'is not a decodable image'),
        # training resizes image and label together: the wrong size used to pass
        ('training', 'mini_000002.png', r'is 24x40 \(HxW\) but its image .*mini_000002.jpg is '
         r'32x32; expected a label map of the image\'s size'),
        ('validation', 'mini_000001.png', r'is 16x32 \(HxW\) but its image .* is 32x32'),
        ('validation', 'mini_000000.png', r'has values 49 \(after reduce_zero_label\); stored '
         r'in the file as 50, in 15 pixels; expected classes '
         r'0\.\.5 or the ignore index 255'),
    ])
def test_label_errors_name_the_file_and_what_was_expected(broken_mini_ade, split, name, match):
    ds = _dataset(broken_mini_ade, split)
    path = str(broken_mini_ade / 'annotations' / split / name)
    with pytest.raises(ValueError, match=r'label map ' + re.escape(path) + ' ' + match):
        ds[_index(ds, name)]


def test_good_label_maps_load_exactly_as_with_mmseg(broken_mini_ade):
    from mmseg.datasets.transforms import LoadAnnotations

    from mmseg_cbsa.datasets import LoadCheckedAnnotations
    ds = _dataset(broken_mini_ade, 'validation')
    info = ds.get_data_info(_index(ds, 'mini_000002.png'))
    info.update(ori_shape=(32, 32))
    ours = LoadCheckedAnnotations(num_classes=6)(dict(info, seg_fields=[]))
    theirs = LoadAnnotations()(dict(info, seg_fields=[]))
    assert ours['gt_seg_map'].dtype == theirs['gt_seg_map'].dtype == np.uint8
    np.testing.assert_array_equal(ours['gt_seg_map'], theirs['gt_seg_map'])
    sample = ds[_index(ds, 'mini_000002.png')]  # the whole test pipeline
    assert sample['data_samples'].gt_sem_seg.data.shape == (1, 32, 32)


def test_inference_without_labels_passes_through():
    from mmseg_cbsa.datasets import LoadCheckedAnnotations
    results = dict(img=np.zeros((4, 4, 3), np.uint8), ori_shape=(4, 4))
    assert LoadCheckedAnnotations(num_classes=6)(dict(results)).keys() == results.keys()


def _pipeline_types(pipeline):
    types = []
    for step in pipeline:
        types.append(step['type'])
        for branch in step.get('transforms', []):
            types += _pipeline_types(branch if isinstance(branch, list) else [branch])
    return types


def test_ade20k_pipelines_are_mmsegs_with_checked_annotations():
    ours = Config.fromfile('configs/_base_/datasets/ade20k_bs1.py')
    theirs = Config.fromfile(
        osp.join(
            os.path.dirname(__import__('mmseg').__file__),
            '.mim/configs/_base_/datasets/ade20k.py'))

    def swap(pipeline):
        out = []
        for step in pipeline:
            step = {k: v for k, v in step.items() if k != '_scope_'}
            if step['type'] == 'LoadCheckedAnnotations':
                assert step.pop('num_classes') == 150
                step['type'] = 'LoadAnnotations'
            if step['type'] == 'LoadAnnotations':  # ours says it on the dataset (below)
                step.pop('reduce_zero_label', None)
            if 'transforms' in step:
                step['transforms'] = [swap(b) for b in step['transforms']]
            out.append(step)
        return out

    for key in ('train_pipeline', 'test_pipeline', 'tta_pipeline'):
        assert 'LoadCheckedAnnotations' in _pipeline_types(ours[key]), key
        assert swap(ours[key]) == swap(theirs[key]), key
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert ours[loader].dataset.pipeline == ours['train_pipeline' if loader ==
                                                     'train_dataloader' else 'test_pipeline']
        assert ours[loader].dataset.reduce_zero_label is True


@pytest.mark.parametrize('config', [
    QUICKSTART, CBT_ADE20K, 'configs/segmenter/segmenter_vit-s16_8xb1-160k_ade20k-512x512.py',
    'configs/depict/depict-sa_vit-s16_8xb1-160k_ade20k-512x512.py'
])
def test_checked_annotations_count_the_datasets_classes(config):
    from mmseg_cbsa.registry import DATASETS
    cfg = Config.fromfile(config)
    classes = DATASETS.get(cfg.train_dataloader.dataset.type).METAINFO['classes']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        steps = [s for s in cfg[loader].dataset.pipeline if 'Annotations' in s['type']]
        assert [s['type'] for s in steps] == ['LoadCheckedAnnotations'], (config, loader)
        assert steps[0]['num_classes'] == len(classes) == cfg.model.decode_head.num_classes
