"""Test setup: the package is imported from this source tree, the library
from the build named by $COGMEM_BUILD_DIR (a -Djemalloc=disabled build; see
tools/python/run-tests.sh) unless $COGMEM_LIBRARY names it directly."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
BUILD = os.environ.get("COGMEM_BUILD_DIR", os.path.join(HERE, "..", "..", "..", "build-py"))
os.environ.setdefault("COGMEM_LIBRARY", os.path.join(BUILD, "src", "libcogmem.so"))
LAYOUT = os.path.join(BUILD, "tools", "python", "cogmem-py-layout")
COGMEM_EXE = os.path.join(BUILD, "tools", "cogmem")
FIXTURE = os.path.join(HERE, "..", "..", "wordnet-fixture")
