"""Backbones: Hugging Face multimodal LLMs and the CPU reference model, behind one interface."""
