from .hooks import *  # noqa: F401,F403
from .precision_loop import AutocastTestLoop  # noqa: F401
from .runner import UniqueLogRunner, claim_log_dir  # noqa: F401
