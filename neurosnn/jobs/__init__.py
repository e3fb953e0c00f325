"""End-to-end workflows as functions of config dataclasses, for Python and notebooks: they
never parse a command line and never print (progress: tqdm and ``logging``). The
``experiments`` commands are thin layers over them."""
