"""Lightning's DeepSpeedStrategy on CPU ranks: the real strategy, DeepSpeed engine and ZeRO-2
optimizer over gloo, minus the stock strategy's CUDA checks. It is what ``trainer.accelerator: cpu``
with ``strategy: deepspeed`` runs (the tests, a debugging run on a login node, the local SLURM
cluster); GPU runs take the stock strategy."""

import torch
from lightning.pytorch.strategies import DeepSpeedStrategy
from lightning.pytorch.strategies.ddp import DDPStrategy


class CPUDeepSpeedStrategy(DeepSpeedStrategy):
    def setup_environment(self) -> None:
        DDPStrategy.setup_environment(self)  # the stock one refuses anything but CUDAAccelerator

    def setup_distributed(self) -> None:
        import deepspeed
        import deepspeed.ops
        from lightning.fabric.utilities.seed import reset_seed

        reset_seed()
        self.set_world_ranks()
        # DeepSpeed's CPU backend JIT-compiles a shared-memory all-reduce at first init (~35 s, needs
        # a compiler); gloo is enough for CPU ranks.
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
        self._set_node_environment_variables()
        self._process_group_backend = "gloo"
        deepspeed.init_distributed("gloo", distributed_port=self.cluster_environment.main_port)

    @property
    def root_device(self) -> torch.device:
        return torch.device("cpu", self.local_rank)  # DeepSpeed reads device_rank = root_device.index
