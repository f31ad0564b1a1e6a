"""The results of a run, one way: ``model`` (the cell, made once from pytest's report of a test on
one architecture) → ``matrix`` (the cells of a run, or of merged runs) → ``diagnosis`` (what the
matrix says) → the views: ``text`` (terminal), ``markdown``, ``html``, ``junit`` and the JSON
report. ``plugin`` is the pytest side: it gathers the cells and writes the views at the end."""
