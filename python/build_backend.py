"""setuptools' build backend, seeing the installed torch.

pip builds in an isolated environment; a C++ extension for torch must be compiled against the
torch that will import it, so this backend adds the installing interpreter's own site-packages
after the isolated environment's (whose setuptools, wheel and ninja come first).
"""

import sys
import sysconfig

for _key in ("purelib", "platlib"):
    _path = sysconfig.get_paths()[_key]
    if _path not in sys.path:
        sys.path.append(_path)

from setuptools.build_meta import *  # noqa: E402,F401,F403
