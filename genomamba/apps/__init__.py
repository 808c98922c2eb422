"""Entry points: the ``genomamba`` console script and its commands (the top layer).

Library modules (downstream, api, training, models, data, kernels) never import this package;
``tests/test_architecture.py`` checks the layering with import-linter.
"""
