# mmpretrain's runtime (the ImageNet and fine-tuning classifiers stay in
# mmpretrain's scope; our encoders are tagged _scope_='mmseg_cbsa' where the
# model names them) with the project's Runner: checkpoints read weights-only
# and refused unless they fit, also when mmpretrain's tools/train.py runs it.
_base_ = ['mmpretrain::_base_/default_runtime.py']
runner_type = 'mmseg_cbsa.engine.CheckedRunner'
