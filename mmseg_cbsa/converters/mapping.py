"""What every checkpoint converter shares: renaming keys by rules, and
refusing the keys no rule accounts for, by name (never dropping them)."""
import re
from typing import Dict, List, Tuple

from torch import Tensor

from .checks import ConversionError


class KeyMapper:
    """Rename keys by regex rules (the first rule that fully matches a key
    wins), collecting the keys no rule matched."""

    def __init__(self, rules: List[Tuple[str, str]]) -> None:
        self.rules = [(re.compile(p), r) for p, r in rules]

    def __call__(self, state: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], List[str]]:
        """-> (renamed state dict, unmatched keys in their original order)."""
        out, unmatched = {}, []
        for k, v in state.items():
            for pattern, repl in self.rules:
                if pattern.fullmatch(k):
                    out[pattern.sub(repl, k)] = v
                    break
            else:
                unmatched.append(k)
        return out, unmatched


def refuse_unmatched(src: str, what: str, keys: List[str]) -> None:
    """Raise :class:`~.checks.ConversionError` (a KeyError) naming ``src``,
    what it was read as and (the first 12 of) ``keys``, if there are any."""
    if keys:
        raise ConversionError(f'{src}: unexpected keys for {what}: {sorted(keys)[:12]}'
                              f'{" ..." if len(keys) > 12 else ""}')
