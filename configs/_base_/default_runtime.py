# mmseg's runtime in the mmseg_cbsa scope: the project's types resolve by
# their bare names (then mmseg's and mmengine's), and its Runner loads
# checkpoints (load_from, --resume, the checkpoint tools/test.py evaluates)
# weights-only and refuses one that does not fit the model, also when
# mmseg's own tools/train.py runs the config. Fine-tuning from a checkpoint
# of another class count declares it: load_from_fit = dict(keep_init=[...]).
_base_ = ['mmseg::_base_/default_runtime.py']
default_scope = 'mmseg_cbsa'
runner_type = 'mmseg_cbsa.engine.CheckedRunner'
