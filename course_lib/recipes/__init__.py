"""Each notebook's experiment, one module per notebook, named after its topic: the recipe dataclass (every
number the notebook and its benchmark share), ``*_recipe()`` (the mode's numbers), ``train(...)`` and
``evaluate(...)``. The notebook and ``benchmarks/<topic>.py`` call the same functions.

fcn (01), unet (02), enet (03), mask_rcnn (04), developments (05a), backbones_pyramid (05b), gatys (06),
perceptual (07), distillation (08), enhancement (09), reflection (10), super_resolution (11)
"""
