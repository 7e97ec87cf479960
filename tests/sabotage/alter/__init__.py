"""Altered actions: pytest plugins loaded into a stage's run (`-p tests.sabotage.alter.NAME`).

Each module changes one thing the procedure does (skips a step, does it in the
wrong order) by patching the procedure in `pytest_configure`, so a sabotage
can prove that a stage test notices a wrong action, not only a broken lab.
They exist only in the project's tests: the product has no switch for them.
"""
