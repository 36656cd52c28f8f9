"""Zero-shot scores against Jaccard indices worked out by hand."""
import math

import pytest
import torch

from mmseg_cbsa.evaluation import ZeroShotCLSMetric, image_scores, mass_share_mask

# 4x4 VOC label, 2x2-pixel patches: an object (class 5) in the top-left patch,
# its 255 void band around it, background elsewhere
LABEL = torch.tensor([[5, 5, 255, 0], [5, 5, 255, 0], [255, 255, 255, 0], [0, 0, 0, 0]],
                     dtype=torch.uint8)
HEAD_A = [[1.0, 0.0], [0.0, 0.0]]  # all on the object's patch
HEAD_B = [[0.1, 0.2], [0.3, 0.4]]  # 60% of its mass: the two bottom patches
MAPS = torch.tensor([HEAD_A, HEAD_B])


def test_mass_share_keeps_the_top_patches_crossing_the_share():
    m = mass_share_mask(torch.tensor([[[0.5, 0.3], [0.15, 0.05]]]), share=0.6)
    # ascending cumulative mass 0.05, 0.20, 0.50, 1.00: keep where > 0.4
    assert m.tolist() == [[[True, True], [False, False]]]
    assert mass_share_mask(MAPS)[1].tolist() == [[False, False], [True, True]]


def test_best_head_jaccard_per_target():
    scores = image_scores(MAPS, LABEL, patch_size=2)
    # head A: its mask is exactly the object -> foreground 1.0
    # head B: rows 2-3 (8 px) vs background (7 px), overlap 5 -> 5 / 10;
    #         vs boundary (5 px), overlap 3 -> 3 / 10
    assert scores == pytest.approx(dict(foreground=1.0, background=0.5, boundary=0.3))


def test_metric_averages_images_skips_absent_targets_and_reports_layers():
    metric = ZeroShotCLSMetric(patch_size=2)
    empty = torch.zeros(4, 4, dtype=torch.uint8)  # background only
    samples = [
        dict(cls_attn={
            0: MAPS,
            1: MAPS.flip(0)
        }, gt_sem_seg=dict(data=LABEL[None])),
        dict(cls_attn={
            0: MAPS,
            1: MAPS.flip(0)
        }, gt_sem_seg=dict(data=empty[None])),
    ]
    metric.process({}, samples)
    res = metric.compute_metrics(metric.results)
    # image 2: head A covers 4 of 16 background pixels (0.25), head B 8 (0.5)
    assert res['background/layer1'] == pytest.approx((0.5 + 0.5) / 2)
    assert res['foreground/layer1'] == pytest.approx(1.0)  # image 2 has no object
    assert res['boundary/layer2'] == pytest.approx(0.3)
    assert res['foreground/best'] == pytest.approx(1.0)
    assert not any(math.isnan(v) for v in res.values())


def test_share_must_be_a_fraction():
    with pytest.raises(ValueError, match='share must lie in'):
        ZeroShotCLSMetric(share=60)


def test_masks_over_a_resized_image_are_scored_at_the_label_size():
    # the pipeline shrank a 4x4 image (and not its label) to 2x2: one 1x1 patch
    # per 2x2 label block; head A's mask is the object's block again
    assert image_scores(MAPS, LABEL, patch_size=1, image_size=(2, 2)) == \
        pytest.approx(image_scores(MAPS, LABEL, patch_size=2))
    # VOC's usual case: a 500x375 label, the image resized to 480x360, 16 px
    # patches over the 480x368 padded input (30x23 patches). The head's mass is
    # on the top-left patch, input pixels 0-15: label pixels 0-16 (nearest,
    # label pixel y reads input pixel floor(y * 360 / 375))
    label = torch.zeros(375, 500, dtype=torch.uint8)
    label[:17, :17] = 7
    maps = torch.zeros(1, 23, 30)
    maps[0, 0, 0] = 1.0
    metric = ZeroShotCLSMetric(patch_size=16)
    metric.process({}, [
        dict(
            cls_attn={0: maps},
            gt_sem_seg=dict(data=label[None]),
            img_shape=(360, 480),
            ori_shape=(375, 500))
    ])
    res = metric.compute_metrics(metric.results)
    assert res['foreground/layer1'] == pytest.approx(1.0)
