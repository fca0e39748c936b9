"""Production readiness gate before GPU training (the seed README's ``make prod-readiness``).

Checks, each with a clear failure message: those every stage shares (``maya.readiness``: GPUs,
disk, artifacts) and the pretrained weights readable and carrying encoder tensors. Returns a
report; raises ``MayaError`` listing every failed check at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from maya.errors import MayaError
from maya.readiness import conclude, shared_checks


def check(
    stage1: Mapping,
    artifacts: Sequence[str],
    checkpoint_dir,
    n_params: int,
    cuda_devices: int | None = None,
    storage: Mapping | None = None,
    plan: Mapping | None = None,
) -> dict:
    """The shared checks (maya.readiness) and the pretrained weights."""
    tr = stage1["trainer"]
    failures, report = shared_checks(
        tr, tr["max_steps"], artifacts, checkpoint_dir, n_params, cuda_devices, storage, plan
    )
    pretrained = stage1["init"]["pretrained"]
    if pretrained:
        from maya.stage1.init import load_state_dict

        try:
            state = load_state_dict(pretrained)
            n_enc = sum(1 for k in state if k.startswith(("encoder.", "layers.")))
            report["pretrained_tensors"] = len(state)
            if n_enc == 0:
                failures.append(f"pretrained: {pretrained} has no encoder tensors")
        except MayaError as e:
            failures.append(f"pretrained: {e}")
        except Exception as e:  # torch.load raises many kinds
            failures.append(f"pretrained: {pretrained} is not readable ({type(e).__name__}: {e})")
    return conclude("Stage-1", failures, report)
