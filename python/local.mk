## python/: the Python binding (docs/PYTHON.md).  `make install` puts the
## package into $(pythondir) (compiled by py-compile, removed again by
## `make uninstall`); `python3 -m pip install ./python` does the same from
## the source tree with its pyproject.toml.
chubbypydir = $(pythondir)/chubby
CHUBBY_PY = python/chubby/__init__.py python/chubby/_client.py python/chubby/_lib.py \
	python/chubby/errors.py python/chubby/events.py python/chubby/recipes.py \
	python/chubby/sequencer.py python/chubby/types.py
if HAVE_PYTHON
chubbypy_PYTHON = $(CHUBBY_PY)
chubbypy_DATA = python/chubby/py.typed
endif
EXTRA_DIST += $(CHUBBY_PY) python/chubby/py.typed python/pyproject.toml python/README.md
