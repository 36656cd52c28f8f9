"""Running the demo scripts (demo/*.py) from tests in the test's own process,
as a user would from the repository root: the imports are paid once."""
import os
import runpy
import sys
from typing import List, NamedTuple, Optional

import numpy as np


class DemoRun(NamedTuple):
    """What a demo run left: its exit status (0 when it returned), stdout, stderr."""
    code: int
    out: str
    err: str

    def written(self) -> List[str]:
        """The pictures it listed on stdout, in order."""
        return [line for line in self.out.splitlines() if line.endswith('.png')]


def run_demo(repo_root: str, monkeypatch, capsys, script: str, *argv) -> DemoRun:
    """``python demo/<script> ARGV`` in this process; a ``sys.exit`` with a
    message counts as status 1 (with the message on stderr, as Python does)."""
    monkeypatch.chdir(repo_root)
    monkeypatch.syspath_prepend(os.path.join(repo_root, 'demo'))
    monkeypatch.setattr(sys, 'argv', [script, *map(str, argv)])
    code: Optional[object] = 0
    try:
        runpy.run_path(os.path.join(repo_root, 'demo', script), run_name='__main__')
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    if isinstance(code, str):
        err, code = err + code + '\n', 1
    return DemoRun(code or 0, out, err)


def random_checkpoint(repo_root: str, config: str, path) -> str:
    """Random weights of ``config``'s model (mmseg_cbsa.apis.build_model),
    saved as a whole-model state dict at ``path``."""
    from mmseg_cbsa.apis import build_model
    from mmseg_cbsa.utils import save_checkpoint_file
    model = build_model(os.path.join(repo_root, config)).model
    save_checkpoint_file(model.state_dict(), str(path), meta={})
    return str(path)


def write_image(path, hw=(32, 48), seed: int = 0) -> str:
    """A random (H, W) colour PNG at ``path`` (folders made)."""
    import cv2
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.random.RandomState(seed).randint(0, 256, (*hw, 3), dtype=np.uint8))
    return path


def read_rgb(path) -> np.ndarray:
    """A written picture as (H, W, 3) RGB; fails when it does not decode."""
    import cv2
    img = cv2.imread(str(path))
    assert img is not None, f'{path} does not decode'
    return img[..., ::-1]
