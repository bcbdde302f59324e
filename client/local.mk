## client/: example programs using the client libraries.
# An example service doing leader election with the Python binding
# (docs/PYTHON.md; tests/integration/test_python.sh runs it).
EXTRA_DIST += client/leader_example.py
