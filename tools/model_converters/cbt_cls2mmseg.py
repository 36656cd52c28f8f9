"""Convert the authors' CBT / CRATE / ToST / CRATE+CBT classifier checkpoints.

    python tools/model_converters/cbt_cls2mmseg.py SRC DST [--overwrite]

SRC holds ``state_dict`` (optionally with DataParallel's ``module.``
prefix). DST is an mmpretrain ``ImageClassifier`` state dict
(``backbone.*``, ``head.fc.*``); mmseg and the zero-shot tools load its
``backbone.*`` part. The authors' CBSA classifiers pool a grid shifted by one
token, so the printed backbone config sets ``legacy_cls_pooling=True``.
"""
import argparse

from mmseg_cbsa.converters.authors import convert_classifier
from mmseg_cbsa.utils.checkpoint import (extract_state_dict, load_checkpoint_file,
                                         save_checkpoint_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help="the authors' *.pth.tar")
    parser.add_argument('dst', help='output checkpoint for this project')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing DST')
    args = parser.parse_args()
    state = extract_state_dict(load_checkpoint_file(args.src), args.src)
    converted, info = convert_classifier(state, args.src)
    save_checkpoint_file(converted, args.dst, overwrite=args.overwrite,
                         meta=dict(source=args.src, converter='cbt_cls2mmseg', info=str(info)))
    print(f'wrote {len(converted)} tensors to {args.dst}')
    print(f'backbone: {info["backbone"]}')
    print(f'head: LinearClsHead(num_classes={info["num_classes"]}, '
          f'in_channels={info["backbone"]["arch"][0]})')


if __name__ == '__main__':
    main()
