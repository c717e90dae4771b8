"""Builds swift_collectives: the Swift library's C interface (libSwiftCollectivesC.so, built
here with SwiftPM from the repository around this folder) and a C++ extension against the
installed torch that makes it a torch.distributed backend.

    pip install ./python          # from the repository's top folder; torch must be installed

Set COLLECTIVES_LIBRARY_DIR to a folder holding an already built libSwiftCollectivesC.so to
skip the Swift build.
"""

import os
import shutil
import subprocess

from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CppExtension

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(HERE)
LIBRARY = "libSwiftCollectivesC.so"
PACKAGE_LIBRARIES = os.path.join(HERE, "swift_collectives", "lib")


def swift_library_dir():
    given = os.environ.get("COLLECTIVES_LIBRARY_DIR")
    if given:
        return given
    subprocess.check_call(["swift", "build", "-c", "release", "--product", "SwiftCollectivesC"], cwd=REPOSITORY)
    return subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=REPOSITORY, text=True).strip()


def version():
    with open(os.path.join(REPOSITORY, "Sources", "Collectives", "Version.swift")) as source:
        for line in source:
            if "collectivesLibraryVersion" in line and '"' in line:
                return line.split('"')[1]
    raise RuntimeError("no version in Sources/Collectives/Version.swift")


class BuildWithSwift(BuildExtension):
    """Builds (or finds) the Swift library and puts it where the extension links against it
    (the source package, for in-place builds) and where the wheel is made from (build_lib: the
    package's data files were collected before this step, so the library is added here)."""

    def run(self):
        library = os.path.join(swift_library_dir(), LIBRARY)
        for folder in (PACKAGE_LIBRARIES, os.path.join(os.path.abspath(self.build_lib), "swift_collectives", "lib")):
            os.makedirs(folder, exist_ok=True)
            shutil.copy2(library, os.path.join(folder, LIBRARY))
        super().run()


setup(
    name="swift_collectives",
    version=version(),
    description="swift-collectives as a torch.distributed backend for CPU tensors",
    license="Apache-2.0",
    packages=["swift_collectives"],
    ext_modules=[
        CppExtension(
            name="swift_collectives._C",
            sources=[os.path.join("csrc", name) for name in ("module.cpp", "backend.cpp", "work.cpp", "store_bridge.cpp", "tensors.cpp")],
            include_dirs=[os.path.join(REPOSITORY, "include"), os.path.join(HERE, "csrc")],
            library_dirs=[PACKAGE_LIBRARIES],
            libraries=["SwiftCollectivesC"],
            extra_compile_args=["-O2", "-Wall"],
            extra_link_args=["-Wl,-rpath,$ORIGIN/lib"],
        )
    ],
    cmdclass={"build_ext": BuildWithSwift},
    python_requires=">=3.9",
    zip_safe=False,
)
