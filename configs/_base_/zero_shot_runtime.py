# Test-only runtime of the zero-shot evaluation (tools/zero_shot_voc.py):
# no training loop, no visualiser, a progress bar over the val set.
default_scope = 'mmseg_cbsa'
# weights-only, fit-checked checkpoint loads (mmseg_cbsa/engine/runner.py)
runner_type = 'mmseg_cbsa.engine.CheckedRunner'
test_cfg = dict(type='TestLoop')
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
log_processor = dict(by_epoch=False)
default_hooks = dict(logger=dict(type='LoggerHook', interval=50), timer=dict(type='IterTimerHook'))
log_level = 'INFO'
custom_hooks = [dict(type='ProgressBarHook')]
