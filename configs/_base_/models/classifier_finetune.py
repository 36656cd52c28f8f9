# An ImageNet-1K classifier (classifier_in1k.py) fine-tuned on a downstream
# set, the authors' way (finetune.py): the encoder starts from the converted
# ImageNet checkpoint (tools/model_converters/cbt_cls2mmseg.py: backbone.* and
# head.fc.*), the linear head starts fresh at the new class count, plain
# cross-entropy. Only the checkpoint's backbone.* tensors are read
# (prefix='backbone.'), and they must fit the encoder exactly (the project's
# fit check: no encoder weight left unset, no tensor without a place); the
# 1000-class head.fc.* tensors, which could not fit the new head, are not
# read. As in finetune.py, which drops every mlp_head.* tensor, the final
# LayerNorm (their mlp_head.0, our backbone.norm) starts afresh (keep_init) and
# the new head has PyTorch's initialisation (classifier_in1k.py).
# The leaves set the checkpoint and the head's num_classes / in_channels.
_base_ = ['./classifier_in1k.py']
model = dict(
    backbone=dict(
        init_cfg=dict(
            _scope_='mmseg_cbsa', type='Pretrained', prefix='backbone.', keep_init=('norm.', ))),
    head=dict(loss=dict(_delete_=True, type='CrossEntropyLoss', loss_weight=1.0), topk=(1, )))
