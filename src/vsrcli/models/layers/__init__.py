"""Layers shared by every network of the family, written once: flow warping, residual blocks, DCNv2."""
