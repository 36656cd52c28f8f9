# Benchmark encoder: deit-s_mita_4xb256-300e_in1k.py with CBSA in every block at
# the authors' CBT default (8x8 representatives, contraction; head width 64).
_base_ = ['./deit-s_mita_4xb256-300e_in1k.py']
model = dict(backbone=dict(attn_cfg=dict(_delete_=True, type='CBSA', rep_grid=8)))
