"""Networks of the BasicVSR family and their checkpoints.

Kept free of imports on purpose: the CLI imports ``vsrcli.models`` at start-up and must not pay for torch.
Import the submodules (``vsrcli.models.arch``, ``vsrcli.models.basicvsr_pp``, ...) directly.
"""
