"""The app layer: the tutorial's platform composed from the library's constructs.

Stacks, context configuration, security-gate wiring, the synth summary and the review tool live
here. The library (``ecs_playground`` itself) never imports this package.
"""
