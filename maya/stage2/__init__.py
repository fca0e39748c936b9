"""Stage 2/3: the Stage-1 encoder, a projection and a Gemma-3 decoder (NeMo speechlm2 SALM)."""
