import os
import pickle

import numpy as np
import pytest
import torch

from mmseg_cbsa.utils.checkpoint import (extract_state_dict, load_checkpoint_file,
                                         save_checkpoint_file)


def test_mmengine_style_checkpoint_loads_weights_only(tmp_path):
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub.get_instance('ckpt-test')
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_info('iter', 3)
    ckpt = dict(
        meta=dict(seed=np.int64(7), iter=3, hist=HistoryBuffer([1.0, 2.0], [1, 1])),
        state_dict=dict(w=torch.ones(2)),
        message_hub=hub.state_dict())
    torch.save(ckpt, tmp_path / 'c.pth')
    loaded = load_checkpoint_file(str(tmp_path / 'c.pth'))
    assert loaded['meta']['seed'] == 7
    assert extract_state_dict(loaded)['w'].sum() == 2


class _Exploit:

    def __reduce__(self):
        return (os.system, ('touch PWNED', ))


@pytest.mark.parametrize('writer', ['torch', 'pickle'])
def test_arbitrary_code_in_a_checkpoint_is_refused(tmp_path, monkeypatch, writer):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / 'evil.pth'
    payload = {'state_dict': {}, 'x': _Exploit()}
    if writer == 'torch':
        torch.save(payload, path)
    else:
        with open(path, 'wb') as f:
            pickle.dump(payload, f, protocol=2)
    with pytest.raises(ValueError, match=r'evil\.pth: cannot be loaded .*system'):
        load_checkpoint_file(str(path))
    assert not (tmp_path / 'PWNED').exists()


def test_extract_state_dict_unwraps_and_names_bad_files():
    inner = {'module.a': torch.zeros(1)}
    assert list(extract_state_dict({'model': inner})) == ['a']
    with pytest.raises(KeyError, match=r"f\.pth: no state dict found; top-level keys are \['x'\]"):
        extract_state_dict({'x': {'y': 1}}, 'f.pth')


def test_save_is_atomic_and_never_overwrites(tmp_path):
    dst = tmp_path / 'out.pth'
    save_checkpoint_file({'a': torch.ones(1)}, str(dst), meta=dict(src='x'))
    with pytest.raises(FileExistsError, match='--overwrite'):
        save_checkpoint_file({'a': torch.zeros(1)}, str(dst))
    assert torch.load(dst, weights_only=True)['state_dict']['a'] == 1
    assert [p.name for p in tmp_path.iterdir()] == ['out.pth']  # no temp files left


class _Sneaky:

    def __reduce__(self):
        # getattr is allow-listed only for HistoryBuffer's statistics methods
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_only_allowed_for_history_buffer_methods(tmp_path):
    torch.save({'x': _Sneaky()}, tmp_path / 'sneaky.pth')
    with pytest.raises(
            ValueError, match=r"sneaky\.pth.*refused getattr\(HistoryBuffer, '__init__'\)"):
        load_checkpoint_file(str(tmp_path / 'sneaky.pth'))
