"""Text facts and normalisation shared by QC, tokenizers and evaluation."""
