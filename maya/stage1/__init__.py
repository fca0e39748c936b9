"""Stage 1: FastConformer hybrid TDT + CTC on NeMo."""
