"""Convert the authors' CBT / CRATE / ToST / CRATE+CBT classifier checkpoints.

    python tools/model_converters/cbt_cls2mmseg.py SRC DST [--grid H W] [--overwrite]

SRC holds ``state_dict`` (optionally with DataParallel's ``module.``
prefix). DST is an mmpretrain ``ImageClassifier`` state dict
(``backbone.*``, ``head.fc.*``); mmseg and the zero-shot tools load its
``backbone.*`` part. The authors' CBSA classifiers pool a grid shifted by one
token, so the printed backbone config sets ``legacy_cls_pooling=True``.
A file with a tensor or layer missing, or of the wrong shape, is refused by
key and nothing is written.
"""
from mmseg_cbsa.converters.authors import convert_classifier
from mmseg_cbsa.converters.cli import run_converter


def report(info: dict, dst: str) -> None:
    print(f'attention per layer: {info["kinds"]}')
    print(f'backbone: {info["backbone"]}')
    print(f'head: LinearClsHead(num_classes={info["num_classes"]}, '
          f'in_channels={info["backbone"]["arch"][0]})')


if __name__ == '__main__':
    run_converter(__doc__, 'cbt_cls2mmseg', convert_classifier, report)
