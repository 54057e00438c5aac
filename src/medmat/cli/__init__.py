"""The ``medmat`` command line. Each module here defines ``register(app)``.

Commands import heavy libraries (torch, transformers) inside their functions so that
``medmat --help`` and the catalog commands start fast.
"""
