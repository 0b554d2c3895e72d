"""The optional C part: bastion.observe._lines (log lines rendered on the request path).

Optional: where no C compiler is available the build goes on without it and Bastion uses the
Python renderer, which produces the same bytes (bastion.observe.native).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("bastion.observe._lines", ["src/bastion/observe/_lines.c"],
                             optional=True, extra_compile_args=["-O2"])])
