# SPDX-License-Identifier: MIT
"""setup.py - the aule Python package (pure Python over the shared libaule, via ctypes).

    pip install ./python                      # from the source tree; bundles build/libaule.so when built
    python/build_wheel.sh                     # a wheel with libaule bundled (dist/)

Offline with Debian's python3-pip, -setuptools and -wheel: no pyproject.toml,
so pip uses the setuptools already installed and downloads nothing. The
library bundled is $AULE_LIBRARY when set, else ../build/libaule.so when it
exists; without one, the installed package finds libaule through
$AULE_LIBRARY or the system's (cmake --install).
"""
import os
import shutil

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _library():
    env = os.environ.get("AULE_LIBRARY")
    if env:
        return env if os.path.exists(env) else None
    p = os.path.join(HERE, "..", "build", "libaule.so")
    return p if os.path.exists(p) else None


LIB = _library()


class BuildPy(build_py):
    """Copies libaule (symlinks resolved) into the package as aule/lib/libaule.so."""

    def run(self):
        super().run()
        if LIB:
            dest = os.path.join(self.build_lib, "aule", "lib")
            os.makedirs(dest, exist_ok=True)
            shutil.copyfile(os.path.realpath(LIB), os.path.join(dest, "libaule.so"))


class BinaryDistribution(Distribution):
    """With libaule bundled, the package installs into platlib (the wheel's root)."""

    def has_ext_modules(self):
        return bool(LIB)


cmdclass = {"build_py": BuildPy}
try:
    from wheel.bdist_wheel import bdist_wheel

    class BdistWheel(bdist_wheel):
        """A bundled native library makes the wheel platform-specific (any Python 3)."""

        def get_tag(self):
            python, abi, plat = super().get_tag()
            return ("py3", "none", plat) if LIB else (python, abi, plat)

    cmdclass["bdist_wheel"] = BdistWheel
except ImportError:
    pass

setup(
    name="aule",
    version="0.1.0",
    description="Exact attention on any Vulkan device: generated kernels, Python and PyTorch bindings",
    license="MIT",
    packages=["aule"],
    python_requires=">=3.8",
    install_requires=["numpy"],
    extras_require={"torch": ["torch"]},
    cmdclass=cmdclass,
    distclass=BinaryDistribution,
    zip_safe=False,
)
