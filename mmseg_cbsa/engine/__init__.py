from .hooks import *  # noqa: F401,F403
from .precision_loop import AutocastTestLoop  # noqa: F401
from .pretrained_init import Pretrained  # noqa: F401
from .runner import CheckedRunner, UniqueLogRunner, build_runner, claim_log_dir  # noqa: F401
from .schedulers import WarmupCosineLR, WarmupCosineParamScheduler  # noqa: F401
