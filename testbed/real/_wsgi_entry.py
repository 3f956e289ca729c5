"""The module gunicorn loads inside .venv-real to serve Keystone or Glance.

It runs in the real services' venv, so it uses the standard library only. Keystone parses
``sys.argv`` with oslo.config when imported, and gunicorn's own options would make it fail:
the arguments are dropped before the service's WSGI module is imported.
"""

import importlib
import os
import sys

sys.argv = sys.argv[:1]
_module, _, _attribute = os.environ["OPENSTACKOID_WSGI_APP"].partition(":")
application = getattr(importlib.import_module(_module), _attribute)
