# SPDX-License-Identifier: MIT
"""conftest.py: the package from this source tree, importable without installing it."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
