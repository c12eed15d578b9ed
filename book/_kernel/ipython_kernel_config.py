"""IPython kernel configuration for every notebook that `learning-rules build` executes.

The build copies this file to ``_build/ipython/profile_default/`` and points the kernels'
``IPYTHONDIR`` there, so figure settings live here once instead of in every notebook:

* ``retina``: inline figures are PNGs drawn at twice ``figure.dpi`` (200 dpi) and displayed at their
  nominal size, so they stay sharp on high-density screens and when zoomed;
* ``savefig.dpi = 200`` for any figure a notebook writes to a file without choosing a DPI.
"""

c = get_config()  # noqa: F821 - injected by IPython's config loader

c.InlineBackend.figure_formats = {"retina"}
c.InlineBackend.rc = {"figure.dpi": 100, "savefig.dpi": 200}

# tqdm.auto (imported by pooch, joblib's helpers, ...) warns on stderr when ipywidgets is missing;
# under -W that warning would fail the page of whichever notebook first imports it. Progress bars
# are off in the built book anyway (learning_rules.progress), so silence that one warning everywhere.
c.IPKernelApp.exec_lines = [
    "import warnings as _w; _w.filterwarnings('ignore', message='IProgress not found'); del _w",
]
