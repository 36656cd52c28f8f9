# tiny_cbt.py, stopped by KeyboardInterrupt after iteration 3 (tests/data on
# PYTHONPATH provides the hook).
_base_ = ['./tiny_cbt.py']
custom_imports = dict(imports=['mmseg_cbsa', 'interrupt_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='InterruptAfterIter', iters=3)]
