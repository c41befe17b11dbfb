"""Each notebook's experiment, one module per notebook, named after its topic: the recipe dataclass (every
number the notebook and its benchmark share), ``*_recipe()`` (the mode's numbers), ``train(...)`` and
``evaluate(...)``. The notebook and ``benchmarks/<topic>.py`` call the same functions.

fcn (01), unet (02), enet (03), developments (05a), gatys (06), perceptual (07), distillation (08)
"""
