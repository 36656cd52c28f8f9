"""The authors' own models, imported from a local checkout of their repository
(QishuaiWen/CBSA, ``--authors-root``), for the benchmark to time against ours.

Their code is not a package: its folders are put on ``sys.path`` and their
modules (``segm.model.decoder``, ``models``) imported by name. Only the
benchmark runs them, each case in a fresh interpreter, so the path change
does not outlive the case.
"""
import os.path as osp
import sys

import torch
from torch import Tensor, nn

#: the authors' classifier constructors timed by ``--part backbone`` (``kind='authors_encoder'``)
AUTHORS_ENCODERS = {'CBT-S': 'Ours_small', 'CRATE-S': 'CRATE_small', 'ToST-S': 'ToST_small'}


def authors_folder(root: str, part: str) -> str:
    """The folder of the authors' checkout (QishuaiWen/CBSA) holding ``part``:
    'segmentation' or 'classification'. ``root`` may be the checkout or
    either of its ``CBSA_*`` folders."""
    sub = dict(
        segmentation='CBSA_semantic_segmentation', classification='CBSA_image_classification')[part]
    for base in (root, osp.dirname(osp.abspath(root))):
        if osp.isdir(osp.join(base, sub)):
            return osp.join(base, sub)
    if osp.basename(osp.abspath(root)) == sub:
        return root
    raise FileNotFoundError(f'{root} is not a checkout of the authors\' repository '
                            f'(QishuaiWen/CBSA): no {sub} folder in it or beside it')


class AuthorsDecoder(nn.Module):
    """The authors' CBT ``MaskTransformer`` imported from a local checkout."""

    def __init__(self, root: str, dims: int, num_classes: int) -> None:
        super().__init__()
        sys.path.insert(0, root)
        # their checkout is on sys.path only from here on
        from segm.model.decoder import MaskTransformer
        self.net = MaskTransformer(
            n_cls=num_classes, patch_size=16, n_layers=3, n_heads=3, d_model=dims, dropout=0.0)

    def forward(self, feat: Tensor) -> Tensor:
        b, d, h, w = feat.shape
        return self.net(feat.flatten(2).transpose(1, 2), (h * 16, w * 16))


class AuthorsEncoder(nn.Module):
    """One of the authors' ImageNet classifiers (``CBSA_image_classification``)
    without its head: their ``forward_features``, with the position embedding
    laid out at the input size."""

    def __init__(self, root: str, name: str, size: int) -> None:
        super().__init__()
        sys.path.insert(0, root)
        # their checkout is on sys.path only from here on
        import models
        self.net = getattr(models, name)()
        # their position-embedding resize passes a tuple scale factor that
        # current PyTorch's bicubic interpolation rejects; an embedding laid out
        # at the input size skips it (values do not change the timing)
        grid = (size // self.net.patch_size)**2
        self.net.pos_embedding = nn.Parameter(torch.zeros(1, grid + 1, self.net.dim))

    def forward(self, img: Tensor) -> Tensor:
        return self.net.forward_features(img)


class AuthorsTrainingEncoder(nn.Module):
    """One of the authors' classifiers as it trains, without its head.

    Their ``forward_features`` (:class:`AuthorsEncoder`'s forward) runs under
    ``torch.no_grad``, so a training step goes through their training
    ``forward`` instead, with ``mlp_head`` replaced by an identity: patch
    embedding, [CLS] token, position embedding (laid out at the input size),
    their transformer, then their pooling of one (B, d) feature per image.
    """

    def __init__(self, encoder: AuthorsEncoder) -> None:
        super().__init__()
        self.net = encoder.net
        self.net.mlp_head = nn.Identity()

    def forward(self, img: Tensor) -> Tensor:
        return self.net(img)
