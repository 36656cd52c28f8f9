# tiny_cbt.py keeping one checkpoint, killed (SIGKILL) while saving the one of
# iteration 4 (tests/data on PYTHONPATH provides the hook).
_base_ = ['./tiny_cbt.py']
custom_imports = dict(imports=['mmseg_cbsa', 'interrupt_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='KillWhileSaving', iters=4)]
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1))
