# Benchmark encoder (tools/analysis_tools/benchmark.py --part backbone, docs/mita.md
# "Measured here"): ViT-S/16 with MiTA in all 12 blocks at the authors' MiTA-DeiT
# defaults (5x5 routers, top-25 keys, their [CLS] pooling), on the MiTA-DeiT-T
# config with the width of ViT-S (384, 6 heads). Only the encoder and the
# config's optimiser (DeiT's AdamW) are timed; the SDPA and CBSA leaves beside it
# change the attention and nothing else.
_base_ = ['../mita-deit-t_4xb256-300e_in1k.py']
model = dict(backbone=dict(arch='s'), head=dict(in_channels=384))
