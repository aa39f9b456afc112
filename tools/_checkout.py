"""Let the scripts in ``tools/`` use this checkout's ``posekit_plugins``.

Each script imports this module before ``posekit_plugins``. Run from a
checkout, the repository root goes first on ``sys.path``, so edits take
effect without reinstalling the package; run by ``mim`` (the copy of
``tools/`` inside the installed package) there is no checkout next to it and
nothing changes.
"""
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if osp.isfile(osp.join(ROOT, 'posekit_plugins', '__init__.py')):
    if ROOT in sys.path:
        sys.path.remove(ROOT)
    sys.path.insert(0, ROOT)
