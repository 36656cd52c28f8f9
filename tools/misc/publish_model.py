"""Prepare a checkpoint for publishing, as mmseg's tools/misc/publish_model.py:
keep the weights and ``meta`` (class names and palette for the inferencers),
drop the training state, and name the file after its SHA-256.

    python tools/misc/publish_model.py IN_FILE OUT_FILE     # -> OUT_STEM-<sha256[:8]>.pth

mmseg's own tool cannot read mmengine checkpoints under torch >= 2.6
(``torch.load`` is weights-only by default and refuses mmengine's
``HistoryBuffer``), hashes the input instead of the published file and renames
it in a background ``mv``. Here the checkpoint is read weights-only through
the project's loader and written atomically.
"""
import argparse
import hashlib
import os
import os.path as osp

from mmseg_cbsa.utils.checkpoint import (extract_state_dict, load_checkpoint_file,
                                         save_checkpoint_file)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Process a checkpoint to be published')
    parser.add_argument('in_file', help='input checkpoint filename')
    parser.add_argument('out_file', help='output checkpoint filename (.pth)')
    return parser.parse_args()


def sha256sum(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def publish(in_file: str, out_file: str) -> str:
    """Write the published checkpoint; returns its final path."""
    ckpt = load_checkpoint_file(in_file)
    meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    save_checkpoint_file(extract_state_dict(ckpt, in_file), out_file, meta=meta)
    final = f'{osp.splitext(out_file)[0]}-{sha256sum(out_file)[:8]}.pth'
    os.replace(out_file, final)
    os.chmod(final, 0o644)  # the atomic writer's temporary file was private
    return final


if __name__ == '__main__':
    args = parse_args()
    print(publish(args.in_file, args.out_file))
